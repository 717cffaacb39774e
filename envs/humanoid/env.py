"""The 32-DoF humanoid standing or walking on a commanded velocity, as a natively batched vector env.

One control step for N robots: normalized actions -> ActionScaler -> SafetyFilter -> PD
targets held for `pd_substeps` physics steps (after the robot's motor latency) -> observation
parts, named reward terms and termination terms, all computed on (N, ...) arrays (EnvPool's
habit: the Python cost is paid per batch, not per robot). `HumanoidLocomotionEnv` is the same
code for one robot.

The world is the scene's flat floor or a terrain grid (TerrainCourse: each robot's tile and
level curriculum); domain randomization (envs.randomization) draws each robot's physics,
latency and pushes at its reset and adds sensor noise to joint_pos, joint_vel and imu.
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs import HUMANOID_LOCOMOTION_ID
from envs.humanoid.config import HumanoidEnvConfig
from envs.humanoid.observations import FORCE_LIMIT_N, HISTORY_FRAME_PARTS, IMU_LIMIT, JOINT_VEL_LIMIT
from envs.humanoid.reference import ReferenceStates
from envs.humanoid.rewards import REWARD_TERMS, TERM_NAMES, weight_vector
from envs.humanoid.robot import HumanoidBatch, Readout
from envs.humanoid.state import StepState
from envs.humanoid.tasks import make_task
from envs.humanoid.terminations import TERMINATION_TERMS
from envs.humanoid.terrain_course import TerrainCourse
from envs.randomization import NOISY_PARTS, LatencyBuffer, PushSchedule, SensorNoise, sample_delay_steps
from envs.robot_env import SingleRobotEnv
from vla_ray.control import JointCommander
from vla_ray.language import INSTRUCTION_BYTES, encode_instruction

# Mirrored lateral leg joints: equal values on both sides mean a mirror-symmetric pose.
LATERAL_LEG_JOINTS = ("hip_yaw", "hip_roll", "ankle_roll")
PRIVILEGED_LIMIT = 50.0


class HumanoidLocomotionVecEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **settings):
        self._renderer = self._camera_renderer = None  # before anything can fail: close() reads them
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: expected >= 1")
        self.config = HumanoidEnvConfig.from_kwargs(settings)
        cfg = self.config
        self.interface = cfg.policy_interface(HUMANOID_LOCOMOTION_ID)
        embodiment = self.interface.embodiment
        self.embodiment = embodiment
        self.num_envs = num_envs
        self.control_dt_s = 1.0 / embodiment.control_frequency_hz
        self.pd_substeps = cfg.pd_substeps or embodiment.interpolation_steps
        self.physics_dt_s = self.control_dt_s / self.pd_substeps
        terrain = cfg.terrain_config()
        self.course = TerrainCourse(terrain, num_envs, cfg.terrain_level) if terrain is not None else None
        self.robots = HumanoidBatch(
            embodiment, cfg.model_path or embodiment.model_path, self.physics_dt_s, num_envs,
            self.course.grid if self.course is not None else None,
        )
        self.commander = JointCommander(embodiment)
        self.render_mode = render_mode

        self.observation_spec = self.interface.observation_spec
        self.single_observation_space = self.observation_spec.space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = gym.spaces.Box(
            -1.0, 1.0, shape=(cfg.action_chunk * embodiment.action_dim,), dtype=np.float32
        )
        self.action_space = batch_space(self.single_action_space, num_envs)

        names = embodiment.joint_names
        self._hip_pitch = np.array([names.index("l_hip_pitch"), names.index("r_hip_pitch")])
        self._lateral = np.array([[names.index(f"{s}_{j}") for j in LATERAL_LEG_JOINTS] for s in ("l", "r")])
        self._nominal_action = self.commander.scaler.to_normalized(embodiment.nominal_pose).astype(np.float32)
        joint_pos = self.observation_spec.part("joint_pos")
        self._joint_pos_bounds = (joint_pos.low, joint_pos.high)

        n = num_envs
        self._configs = [cfg] * n
        self._next_configs: list[HumanoidEnvConfig | None] = [None] * n  # what each robot's next reset switches to
        self._rngs = [np.random.default_rng() for _ in range(n)]
        self._command = np.zeros((n, 3), dtype=np.float32)
        self._instruction = np.zeros((n, INSTRUCTION_BYTES), dtype=np.uint8)
        self._weights = np.zeros((n, len(TERM_NAMES)))
        self._tasks = [None] * n
        self._prev_action = np.tile(self._nominal_action, (n, 1))
        self._steps = np.zeros(n, dtype=np.int64)
        self._max_steps = np.zeros(n, dtype=np.int64)
        self._randomization = [cfg.randomization_config()] * n  # each robot's ranges for its current episode
        self._latency = [LatencyBuffer(self.pd_substeps) for _ in range(n)]
        self._delayed = np.zeros(n, dtype=bool)  # the episode has motor latency
        self._pushes = [PushSchedule(self.control_dt_s) for _ in range(n)]
        self._pushed = np.zeros(n, dtype=bool)  # the episode has pushes
        self._noisy = np.zeros(n, dtype=bool)  # the episode has sensor noise
        self._noise = SensorNoise()
        self._start_xy = np.zeros((n, 2))
        self._episode_sums = np.zeros((n, len(TERM_NAMES)))
        self._velocity_error_sum = np.zeros(n)
        self._safety_steps = np.zeros(n, dtype=np.int64)
        self._fallback_steps = np.zeros(n, dtype=np.int64)
        self._needs_reset = np.zeros(n, dtype=bool)
        frame = 2 * embodiment.num_joints + 9
        self._history = np.zeros((n, cfg.history_length, frame), dtype=np.float32) if cfg.history_length else None
        self._frame: np.ndarray | None = None  # with a history: (N, frame) last observed, noise included
        self._readout: Readout | None = None
        self._reference = (ReferenceStates.load(cfg.reference_motion, self.robots, embodiment.joint_names)
                           if cfg.reference_motion else None)

    # -- settings (curriculum) -------------------------------------------------------------------
    def apply_settings(self, settings: dict) -> None:
        """Change task, command or randomization ranges for every robot; validated now, in effect from each
        robot's next reset, so that no episode mixes two settings. Settings that shape spaces or the model are
        refused."""
        # Validated here, in the caller, not at some later reset; successive calls accumulate (randomization
        # ranges merge) until the reset.
        self._next_configs = [(current if upcoming is None else upcoming).updated(settings)
                              for upcoming, current in zip(self._next_configs, self._configs)]

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        seeds = seed if isinstance(seed, (list, tuple)) else [None if seed is None else seed + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset(seed=...) got {len(seeds)} seeds: expected {self.num_envs}")
        for i, s in enumerate(seeds):
            self._reset_robot(i, s)
        self._needs_reset[:] = False
        self._readout = self.robots.read()
        return self._observation(np.arange(self.num_envs)), {}

    def step(self, actions):
        obs, reward, terminated, truncated, env_infos = self.advance(actions)
        infos: dict = {}
        for i, info in enumerate(env_infos):
            if info:
                infos = self._add_info(infos, info, i)
        return obs, reward, terminated, truncated, infos

    def advance(self, actions):
        """step() with per-robot info dicts (a list) instead of gymnasium's batched info. An action chunk runs
        its control steps in order; a robot whose episode ends inside the chunk stops there (its final
        observation is that step's) and its remaining steps are dropped."""
        chunk = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, self.config.action_chunk, -1)
        # NEXT_STEP autoreset: robots whose episode ended last step start a new one now; their action is ignored.
        resetting = np.flatnonzero(self._needs_reset)
        for i in resetting:
            self._reset_robot(i, None)
        if resetting.size:
            self._readout = self.robots.read()
        active = ~self._needs_reset
        self._needs_reset[:] = False
        if self._history is not None:
            self._history[active] = np.concatenate([self._history[active, 1:], self._frame[active, None]], axis=1)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        env_infos: list[dict] = [{} for _ in range(self.num_envs)]
        for h in range(chunk.shape[1]):
            step_reward, step_terminated, step_truncated, step_infos = self._control_step(chunk[:, h], active)
            reward += step_reward
            terminated |= step_terminated
            truncated |= step_truncated
            env_infos = [info or previous for info, previous in zip(step_infos, env_infos)]
            active = active & ~(step_terminated | step_truncated)
            if not active.any():
                break
        self._needs_reset = terminated | truncated
        return self._observation(resetting), reward, terminated, truncated, env_infos

    def _control_step(self, raw_actions: np.ndarray, active: np.ndarray):
        """One control step of the active robots: reward, terminated, truncated and per-robot infos."""
        actions = np.clip(raw_actions, -1.0, 1.0)
        command = self.commander(raw_actions, self._readout.joint_pos)
        self._safety_steps += command.safety.intervened & active
        self._fallback_steps += command.safety.fallback & active
        self._actuate(command.targets, active)
        self._steps += active
        readout = self._readout = self.robots.read()

        state = self._state(readout, actions)
        # Weights are rates per second of simulated time (legged_gym's convention): scaling by the control
        # period keeps returns O(1-10), so the value loss does not swamp the policy gradient under clipping.
        terms = np.stack([term(state) for term in REWARD_TERMS.values()], axis=1) * (self._weights * self.control_dt_s)
        reward = terms.sum(axis=1) * active
        self._episode_sums += terms * active[:, None]
        self._velocity_error_sum += np.abs(state.forward_velocity_mps - state.target_velocity_mps) * active
        fell = np.stack([term(state) for term in TERMINATION_TERMS.values()], axis=1) & active[:, None]
        terminated = fell.any(axis=1)
        truncated = ~terminated & active & (self._steps >= self._max_steps)
        self._prev_action[active] = actions[active]
        done = terminated | truncated
        env_infos = [{"episode": self._episode_summary(i, fell[i])} if done[i] else {} for i in range(self.num_envs)]
        return reward, terminated, truncated, env_infos

    def _actuate(self, joint_targets: np.ndarray, active: np.ndarray) -> None:
        """This control step's pushes, then the new PD targets for a control period after each robot's latency."""
        # Robots without pushes or latency skip them entirely: the single robot's flat-ground rate depends on it.
        if self._pushed.any():
            for i in np.flatnonzero(active & self._pushed):
                self.robots.push(i, self._pushes[i].force_at(int(self._steps[i])))
        if not self._delayed.any():
            self.robots.step(joint_targets, self.pd_substeps, active)
            return
        self.robots.step(joint_targets, self.pd_substeps, active & ~self._delayed)
        for i in np.flatnonzero(active & self._delayed):
            self.robots.step_segments(i, self._latency[i].segments(joint_targets[i]))

    # -- per-robot episode bookkeeping -------------------------------------------------------------
    def _reset_robot(self, i: int, seed: int | None) -> None:
        if seed is not None:
            self._rngs[i] = np.random.default_rng(seed)
        if self._next_configs[i] is not None:
            self._configs[i], self._next_configs[i] = self._next_configs[i], None
        cfg = self._configs[i]
        task = make_task(cfg.task, cfg.target_velocity_mps, cfg.reward_weights)
        self._tasks[i] = task
        self._command[i] = task.command
        self._instruction[i] = encode_instruction(task.instruction)
        self._weights[i] = weight_vector(task.reward_weights)
        self._max_steps[i] = int(round(cfg.episode_length_s / self.control_dt_s))
        rng = self._rngs[i]
        randomization = self._randomization[i] = cfg.randomization_config()
        self.robots.randomize(i, rng, randomization)
        qpos = self.robots.nominal_qpos.copy()
        joints = self.robots.qpos_index
        noise = rng.uniform(-1.0, 1.0, joints.size) * cfg.reset_joint_noise_rad
        qpos[joints] = np.clip(qpos[joints] + noise, self.embodiment.joint_lower, self.embodiment.joint_upper)
        qvel = None
        if self.course is not None:
            spawn = self.course.spawn_point(i, None if cfg.terrain_curriculum else cfg.terrain_level)
            qpos[:3] = spawn + [0.0, 0.0, self.robots.nominal_base_height_m]  # standing on the ground there
        elif self._reference is not None and rng.random() < cfg.reference_init_fraction:
            qpos, qvel = self._reference.state(int(rng.integers(self._reference.num_frames)))
        self.robots.reset(i, qpos, qvel)
        self._start_xy[i] = qpos[:2]
        delay_steps = sample_delay_steps(rng, randomization, self.physics_dt_s)
        self._latency[i].reset(qpos[joints], delay_steps)  # the reset pose is held until then
        self._delayed[i] = delay_steps > 0
        self._pushes[i].reset(rng, randomization)
        self._pushed[i] = randomization.push_force_n[1] > 0
        self._noisy[i] = any(getattr(randomization, name) > 0 for name in NOISY_PARTS.values())
        self._prev_action[i] = self._nominal_action
        self._steps[i] = 0
        self._episode_sums[i] = 0.0
        self._velocity_error_sum[i] = 0.0
        self._safety_steps[i] = 0
        self._fallback_steps[i] = 0

    def observe_reference_motion(self) -> dict[str, np.ndarray]:
        """(T, *shape) per part: what robot 0 would observe in each frame of the reference motion, posed
        kinematically (the expert side of AMP's discriminator; the same observation code as training). Robot 0 is
        left posed at the last frame: reset() before stepping again."""
        if self._reference is None:
            raise ValueError("observe_reference_motion: expected an environment built with reference_motion")
        frames = []
        for t in range(self._reference.num_frames):
            self.robots.reset(0, *self._reference.state(t))
            self._readout = self.robots.read()
            frames.append({name: values[0] for name, values in self._observation(np.array([0])).items()})
        return {name: np.stack([frame[name] for frame in frames]) for name in frames[0]}

    def _episode_summary(self, i: int, fell: np.ndarray) -> dict:
        task, steps = self._tasks[i], int(self._steps[i])
        causes = [name for name, hit in zip(TERMINATION_TERMS, fell) if hit]
        summary = {
            "task": task.name,
            "target_velocity_mps": task.target_velocity_mps,
            "tag": self._configs[i].episode_tag,
            "instruction": task.instruction,
            "length_steps": steps,
            "duration_s": steps * self.control_dt_s,
            "fell": bool(causes),
            "termination": causes[0] if causes else None,
            "velocity_tracking_error_mps": float(self._velocity_error_sum[i] / max(steps, 1)),
            "safety_intervention_steps": int(self._safety_steps[i]),
            "safety_fallback_steps": int(self._fallback_steps[i]),
            "reward_terms": {
                name: float(value) for name, value, w in zip(TERM_NAMES, self._episode_sums[i], self._weights[i]) if w
            },
        }
        if self.course is not None:
            walked = float(np.linalg.norm(self._readout.qpos[i, :2] - self._start_xy[i]))
            commanded = task.target_velocity_mps * steps * self.control_dt_s
            summary["distance_walked_m"] = walked
            summary["terrain"] = self.course.finish(i, walked, commanded, self._configs[i].terrain_curriculum)
        return summary

    # -- measurements -> state, observation --------------------------------------------------------
    def _state(self, r: Readout, actions: np.ndarray) -> StepState:
        q = r.joint_pos
        return StepState(
            base_height_m=r.base_height_m,
            nominal_base_height_m=self.robots.nominal_base_height_m,
            roll_rad=r.roll_rad,
            pitch_rad=r.pitch_rad,
            forward_velocity_mps=r.heading_velocity[:, 0],
            target_velocity_mps=self._command[:, 0].astype(np.float64),
            normalized_torque=r.normalized_torque,
            action=actions,
            prev_action=self._prev_action,
            foot_contact=r.contacts[:, :2],
            foot_height_m=r.foot_height_m,
            leg_pitch_offsets_rad=q[:, self._hip_pitch] - self.embodiment.nominal_pose[self._hip_pitch],
            leg_lateral_rad=q[:, self._lateral],
            finite=r.finite,
        )

    def _sensed(self, r: Readout) -> dict[str, np.ndarray]:
        """joint_pos, joint_vel and imu as the robot's sensors report them: each robot's noise, then clipped to
        the parts' bounds. The readout itself stays exact: rewards and the safety filter use the true state."""
        parts = {"joint_pos": r.joint_pos, "joint_vel": r.joint_vel, "imu": r.imu}
        if self._noisy.any():
            parts = {name: values.copy() for name, values in parts.items()}
            for i in np.flatnonzero(self._noisy):
                row = {name: values[i] for name, values in parts.items()}
                noisy = self._noise.apply(row, self._rngs[i], self._randomization[i])
                for name, values in parts.items():
                    values[i] = noisy[name]
            # Joint limits keep exact positions within bounds; noise can carry a reading past them.
            parts["joint_pos"] = np.clip(parts["joint_pos"], *self._joint_pos_bounds)
        return {
            "joint_pos": parts["joint_pos"].astype(np.float32),
            "joint_vel": np.clip(parts["joint_vel"], -JOINT_VEL_LIMIT, JOINT_VEL_LIMIT).astype(np.float32),
            "imu": np.clip(parts["imu"], -IMU_LIMIT, IMU_LIMIT).astype(np.float32),
        }

    def _observation(self, fresh: np.ndarray) -> dict:
        """The observation of the current readout; `fresh` robots start an episode with it, so their history
        is this frame repeated. History frames are what was observed, noise included, as on the robot."""
        r = self._readout
        sensed = self._sensed(r)
        if self._history is not None:
            self._frame = np.concatenate([sensed[name] for name in HISTORY_FRAME_PARTS], axis=1)
            self._history[fresh] = self._frame[fresh, None]
        privileged = np.concatenate([r.heading_velocity, r.base_height_m[:, None]], axis=1)
        obs = {
            **sensed,
            "contacts": r.contacts.astype(np.float32),
            "force_torque": np.clip(r.wrench, -FORCE_LIMIT_N, FORCE_LIMIT_N).astype(np.float32),
            "command": self._command.copy(),
            "prev_action": self._prev_action.astype(np.float32),
            "instruction": self._instruction.copy(),
            "privileged": np.clip(privileged, -PRIVILEGED_LIMIT, PRIVILEGED_LIMIT).astype(np.float32),
        }
        if self._history is not None:
            obs["proprio_history"] = self._history.copy()
        if self.config.camera:
            obs["camera_rgb"] = np.stack([self._render(i, self.config.camera, camera_obs=True) for i in range(self.num_envs)])
        return obs

    def _render(self, i: int, camera: str, camera_obs: bool = False) -> np.ndarray:
        if camera_obs:
            if self._camera_renderer is None:
                h, w = self.config.camera_size
                self._camera_renderer = mujoco.Renderer(self.robots.model, height=h, width=w)
            renderer = self._camera_renderer
        else:
            if self._renderer is None:
                self._renderer = mujoco.Renderer(self.robots.model, height=480, width=640)
            renderer = self._renderer
        renderer.update_scene(self.robots.datas[i], camera=camera)
        return renderer.render().copy()

    def render_robot(self, i: int) -> np.ndarray:
        """A video frame of robot i from the scene's tracking camera."""
        return self._render(i, "track")

    def measured_joint_positions(self) -> np.ndarray:
        return self._readout.joint_pos

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return tuple(self.render_robot(i) for i in range(self.num_envs))

    def close_extras(self, **kwargs):
        for renderer in (self._renderer, self._camera_renderer):
            if renderer is not None:
                renderer.close()
        self._renderer = self._camera_renderer = None


class HumanoidLocomotionEnv(SingleRobotEnv):
    """One humanoid: the vector environment with a batch of one (so both share every line of logic)."""

    vector_class = HumanoidLocomotionVecEnv
