"""RobotVecEnv: the control loop every robot environment shares, as a natively batched gymnasium VectorEnv.

One control step for N robots: normalized actions -> JointCommander (ActionScaler, then
SafetyFilter) -> joint targets and gripper openings, applied after the sampled motor
latency and held for the control period's physics steps -> the task's measurements ->
named reward terms (weights are rates per simulated second), named termination terms, a
success criterion and the observation parts. Subclasses say what a task is: the scene
objects it adds, how an episode starts, what it measures, rewards and observes.
Autoreset is gymnasium's NEXT_STEP mode, as RLlib's vector EnvRunner expects.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.randomization import (
    NOISY_PARTS, LatencyBuffer, PhysicsRandomizer, PushSchedule, RandomizationScope, SensorNoise, sample_delay_steps,
)
from envs.simulation import RobotSimulation, SceneExtension, compile_scene, joint_commander, substeps_per_control
from vla_ray.env_settings import merge_settings
from vla_ray.language import INSTRUCTION_BYTES, encode_instruction

VIDEO_CAMERA = "track"
VIDEO_SIZE = (480, 640)
# Off in camera observations: on a CPU renderer (Mesa llvmpipe under MUJOCO_GL=egl) shadow maps and
# reflections cost ~12x the rest of a 64x64 frame (68 ms -> 5.7 ms for the Franka wrist camera).
OBSERVATION_RENDER_OFF = (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX)


class RobotVecEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 30}
    env_id: str  # the registered id; set by each subclass
    config_class: type  # the validated settings class; set by each subclass

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **settings):
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}  # before anything can fail: close() reads it
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: expected >= 1")
        self.config = cfg = self.config_class.from_kwargs(settings)
        self.setup(cfg)
        self.interface = cfg.policy_interface(self.env_id)
        self.embodiment = embodiment = self.interface.embodiment
        self.num_envs = n = num_envs
        self.render_mode = render_mode
        model = compile_scene(cfg.model_path or embodiment.model_path, self.scene_extensions())
        self.sim = RobotSimulation(embodiment, model, num_envs)
        self.control_dt_s = 1.0 / embodiment.control_frequency_hz
        self.physics_dt_s = float(model.opt.timestep)
        self.substeps = substeps_per_control(self.control_dt_s, self.physics_dt_s, f"{embodiment.robot_name} scene")
        self.commander = joint_commander(embodiment, cfg.model_path)
        self.metadata = {**self.metadata, "render_fps": round(embodiment.control_frequency_hz)}

        self.observation_spec = self.interface.observation_spec
        self.single_observation_space = self.observation_spec.space()
        self.observation_space = batch_space(self.single_observation_space, n)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(embodiment.action_dim,), dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, n)

        layout = self.sim.layout
        self.randomizer = PhysicsRandomizer(model, self.randomization_scope(model))
        self._reward_fns = self.reward_terms()
        self._termination_fns = self.termination_terms()
        self.term_names = tuple(self._reward_fns)
        self._check_reward_weights(cfg.reward_weights)
        self._configs = [cfg] * n
        self._pending: list[dict] = [{} for _ in range(n)]
        self._rngs = [np.random.default_rng() for _ in range(n)]
        self._instruction = np.zeros((n, INSTRUCTION_BYTES), dtype=np.uint8)
        self._weights = np.zeros((n, len(self.term_names)))
        self._tasks = [None] * n
        self._prev_action = np.zeros((n, embodiment.action_dim))
        self._latency = [LatencyBuffer(self.substeps) for _ in range(n)]
        self._pushes = [PushSchedule(self.control_dt_s) for _ in range(n)]
        self._noise = SensorNoise()
        self._push_body = layout.root_body
        self._steps = np.zeros(n, dtype=np.int64)
        self._max_steps = np.zeros(n, dtype=np.int64)
        self._episode_sums = np.zeros((n, len(self.term_names)))
        self._safety_steps = np.zeros(n, dtype=np.int64)
        self._fallback_steps = np.zeros(n, dtype=np.int64)
        self._first_success = np.full(n, -1, dtype=np.int64)
        self._needs_reset = np.zeros(n, dtype=bool)
        self._last_success = np.zeros(n, dtype=bool)
        self._state = None
        self.bind(model)

    # -- what a subclass defines -------------------------------------------------------------------
    def setup(self, config) -> None:
        """Build what the scene and the spaces depend on (e.g. the task); called before the scene compiles."""

    def scene_extensions(self) -> list[SceneExtension]:
        """Functions that add the task's objects (and terrain) to the robot's MjSpec before compiling."""
        return []

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up the ids of the compiled scene's task objects."""

    def randomization_scope(self, model: mujoco.MjModel) -> RandomizationScope:
        """What physics randomization touches: the robot's bodies, geoms, dofs and actuators (not the objects)."""
        return RandomizationScope.of_bodies(model, self.sim.layout.robot_bodies)

    def reward_terms(self) -> dict[str, Callable]:
        raise NotImplementedError

    def termination_terms(self) -> dict[str, Callable]:
        return {}

    def make_task(self, config):
        """The task of one episode under `config`: an object with name, instruction and reward_weights."""
        raise NotImplementedError

    def reset_robot(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Scene qpos, initial (joint targets, openings) and mocap positions (None: the model's) for robot i's
        new episode; objects are placed here."""
        raise NotImplementedError

    def measure(self, actions: np.ndarray):
        """A batched state object for reward, termination and observation terms, read after the physics step."""
        raise NotImplementedError

    def success(self, state) -> np.ndarray:
        """(N,) bool: the task's success criterion holds now."""
        raise NotImplementedError

    def observe(self, state) -> dict[str, np.ndarray]:
        """The task's observation parts (the base adds prev_action, instruction and the camera image)."""
        raise NotImplementedError

    def episode_metrics(self, i: int, state) -> dict:
        """Task-specific numbers for robot i's episode summary (e.g. final position error)."""
        return {}

    # -- settings (curricula, live randomization ranges) --------------------------------------------
    def apply_settings(self, settings: dict) -> None:
        """Change settings for every robot: validated now, in effect from each robot's next reset, so that no
        episode mixes two settings. Settings that shape spaces or the model are refused."""
        for i in range(self.num_envs):
            merged = dict(self._pending[i])
            merge_settings(merged, settings)  # two range changes before a reset both count
            self._check_reward_weights(self._configs[i].updated(merged).reward_weights)  # fail here, not at a reset
            self._pending[i] = merged

    def _check_reward_weights(self, weights: dict) -> None:
        unknown = sorted(set(weights) - set(self.term_names))
        if unknown:
            raise ValueError(f"reward_weights: unknown terms {unknown}: expected names from {list(self.term_names)}")

    # -- gymnasium API --------------------------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        seeds = seed if isinstance(seed, (list, tuple)) else [None if seed is None else seed + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset(seed=...) got {len(seeds)} seeds: expected {self.num_envs}")
        for i, s in enumerate(seeds):
            self._reset_robot(i, s)
        self._needs_reset[:] = False
        self._state = self.measure(self._prev_action)
        return self._observation(self._state), {}

    def step(self, actions):
        obs, reward, terminated, truncated, env_infos = self.advance(actions)
        infos: dict = {}
        for i, info in enumerate(env_infos):
            if info:
                infos = self._add_info(infos, info, i)
        return obs, reward, terminated, truncated, infos

    def advance(self, actions):
        """step() with per-robot info dicts (a list) instead of gymnasium's batched info."""
        raw_actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, -1)
        actions = np.clip(raw_actions, -1.0, 1.0)
        resetting = np.flatnonzero(self._needs_reset)
        for i in resetting:
            self._reset_robot(i, None)
        active = ~self._needs_reset
        self._needs_reset[:] = False

        command = self.commander(raw_actions, self.sim.positions())
        self._safety_steps += command.safety.intervened & active
        self._fallback_steps += command.safety.fallback & active
        for i in np.flatnonzero(active):
            self._step_robot(i, command.targets[i])
        self._steps += active

        state = self._state = self.measure(actions)
        terms = np.stack([term(state) for term in self._reward_fns.values()], axis=1)
        # Weights are rates per second of simulated time (legged_gym's convention), so a task's returns do not
        # change with the robot's control rate.
        terms = terms * (self._weights * self.control_dt_s)
        reward = terms.sum(axis=1) * active
        self._episode_sums += terms * active[:, None]
        success = self.success(state) & active
        self._last_success = success
        self._first_success = np.where(success & (self._first_success < 0), self._steps, self._first_success)
        ends = self._termination_fns
        fell = (
            np.stack([term(state) for term in ends.values()], axis=1) & active[:, None]
            if ends else np.zeros((self.num_envs, 0), dtype=bool)
        )
        terminated = fell.any(axis=1)
        truncated = ~terminated & active & (self._steps >= self._max_steps)
        self._prev_action[active] = actions[active]
        done = terminated | truncated
        self._needs_reset = done
        infos = [
            {"episode": self._episode_summary(i, fell[i], state)} if done[i] else {} for i in range(self.num_envs)
        ]
        return self._observation(state), reward, terminated, truncated, infos

    # -- one robot ------------------------------------------------------------------------------------
    def _step_robot(self, i: int, targets: np.ndarray) -> None:
        """Hold the new targets for the control period, after the robot's motor latency."""
        sim = self.sim
        force = self._pushes[i].force_at(int(self._steps[i]))
        self.sim.datas[i].xfrc_applied[self._push_body, :2] = force
        for count, hold in self._latency[i].segments(targets):
            sim.set_targets(i, hold)
            sim.step(i, count)

    def _reset_robot(self, i: int, seed: int | None) -> None:
        if seed is not None:
            self._rngs[i] = np.random.default_rng(seed)
        if self._pending[i]:
            self._configs[i] = self._configs[i].updated(self._pending[i])
            self._pending[i] = {}
        cfg, rng = self._configs[i], self._rngs[i]
        task = self._tasks[i] = self.make_task(cfg)
        self._instruction[i] = encode_instruction(task.instruction)
        weights = {**task.reward_weights, **cfg.reward_weights}  # the settings' per-term overrides win
        self._weights[i] = [weights.get(name, 0.0) for name in self.term_names]
        self._max_steps[i] = int(round(cfg.episode_length_s / self.control_dt_s))
        randomization = cfg.randomization_config()
        self.randomizer.apply(self.sim.models[i], rng, randomization)
        qpos, targets, mocap = self.reset_robot(i, rng)
        self.sim.reset(i, qpos, targets, mocap)
        self._latency[i].reset(targets, sample_delay_steps(rng, randomization, self.physics_dt_s))
        self._pushes[i].reset(rng, randomization)
        self._prev_action[i] = self.commander.scaler.to_normalized(targets)
        self._steps[i] = 0
        self._episode_sums[i] = 0.0
        self._safety_steps[i] = 0
        self._fallback_steps[i] = 0
        self._first_success[i] = -1
        self.reset_task_state(i)

    def reset_task_state(self, i: int) -> None:
        """Clear robot i's per-episode task accumulators (subclasses that keep any)."""

    def _episode_summary(self, i: int, fell: np.ndarray, state) -> dict:
        task, steps = self._tasks[i], int(self._steps[i])
        causes = [name for name, hit in zip(self._termination_fns, fell) if hit]
        first = int(self._first_success[i])
        return {
            "task": task.name,
            "tag": self._configs[i].episode_tag,
            "instruction": task.instruction,
            "length_steps": steps,
            "duration_s": steps * self.control_dt_s,
            "fell": bool(causes),
            "termination": causes[0] if causes else None,
            "success": bool(self._last_success[i]) and not causes,
            "completion_time_s": first * self.control_dt_s if first >= 0 else None,
            "safety_intervention_steps": int(self._safety_steps[i]),
            "safety_fallback_steps": int(self._fallback_steps[i]),
            "reward_terms": {
                name: float(v) for name, v, w in zip(self.term_names, self._episode_sums[i], self._weights[i]) if w
            },
            **self.episode_metrics(i, state),
        }

    # -- observation and rendering ----------------------------------------------------------------------
    def _observation(self, state) -> dict:
        obs = self._with_sensor_noise(self.observe(state))
        obs["prev_action"] = self._prev_action.astype(np.float32)
        obs["instruction"] = self._instruction.copy()
        if self.config.camera:
            obs["camera_rgb"] = np.stack(
                [self._render(i, self.config.camera, self.config.camera_size, observation=True)
                 for i in range(self.num_envs)]
            )
        return {name: np.clip(obs[name], part.low, part.high).astype(part.dtype)
                for name, part in ((p.name, p) for p in self.observation_spec.parts)}

    def _with_sensor_noise(self, obs: dict) -> dict:
        """Each robot's noise from its own settings (they differ while new ranges roll out, reset by reset)."""
        configs = [c.randomization_config() for c in self._configs]
        if not any(getattr(c, name) > 0 for c in configs for name in NOISY_PARTS.values()):
            return obs
        rows = [self._noise.apply({k: v[i : i + 1] for k, v in obs.items()}, self._rngs[i], configs[i])
                for i in range(self.num_envs)]
        return {k: np.concatenate([row[k] for row in rows]) for k in obs}

    def _render(self, i: int, camera: str, size: tuple[int, int], observation: bool = False) -> np.ndarray:
        if size not in self._renderers:
            self._renderers[size] = mujoco.Renderer(self.sim.model, height=size[0], width=size[1])
        renderer = self._renderers[size]
        renderer.update_scene(self.sim.datas[i], camera=camera)
        for flag in OBSERVATION_RENDER_OFF:
            renderer.scene.flags[flag] = not observation
        return renderer.render().copy()

    def render_robot(self, i: int) -> np.ndarray:
        """A video frame of robot i from the scene's tracking camera."""
        return self._render(i, VIDEO_CAMERA, VIDEO_SIZE)

    def measured_joint_positions(self) -> np.ndarray:
        """(N, num_joints) joint positions as measured now."""
        return self.sim.positions()[:, : self.embodiment.num_joints]

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return tuple(self.render_robot(i) for i in range(self.num_envs))

    def close_extras(self, **kwargs):
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers = {}


class SingleRobotEnv(gym.Env):
    """One robot: a vector environment with a batch of one, so both share every line of logic."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
    vector_class: type  # set by each subclass

    def __init__(self, render_mode: str | None = None, **settings):
        self.vector = self.vector_class(num_envs=1, **settings)
        self.render_mode = render_mode
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space
        self.config = self.vector.config
        self.metadata = {**self.metadata, "render_fps": self.vector.metadata["render_fps"]}

    @property
    def embodiment(self):
        return self.vector.embodiment

    @property
    def observation_spec(self):
        return self.vector.observation_spec

    @property
    def control_dt_s(self) -> float:
        return self.vector.control_dt_s

    @property
    def joint_pos(self) -> np.ndarray:
        return self.vector.measured_joint_positions()[0]

    def apply_settings(self, settings: dict) -> None:
        self.vector.apply_settings(settings)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, _ = self.vector.reset(seed=seed)
        task = self.vector._tasks[0]
        return {k: v[0] for k, v in obs.items()}, {"task": task.name, "instruction": task.instruction}

    def step(self, action):
        obs, reward, terminated, truncated, infos = self.vector.advance(np.asarray(action)[None])
        return {k: v[0] for k, v in obs.items()}, float(reward[0]), bool(terminated[0]), bool(truncated[0]), infos[0]

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self.vector.render_robot(0)

    def close(self):
        self.vector.close()
