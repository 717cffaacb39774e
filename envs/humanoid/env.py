"""HumanoidLocomotionEnv: the 32-DoF humanoid standing or walking on a commanded velocity.

One control step: normalized action -> ActionScaler -> SafetyFilter -> PD targets held
for `pd_substeps` physics steps -> observation parts, named reward terms, terminations.
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import mujoco
import numpy as np

from envs.humanoid.config import HumanoidEnvConfig
from envs.humanoid.observations import FORCE_LIMIT_N, IMU_LIMIT, JOINT_VEL_LIMIT, humanoid_observation_spec
from envs.humanoid.rewards import REWARD_TERMS
from envs.humanoid.robot import HumanoidRobot
from envs.humanoid.state import StepState
from envs.humanoid.tasks import make_task
from envs.humanoid.terminations import TERMINATION_TERMS
from vla_ray.control import ActionScaler, SafetyFilter
from vla_ray.embodiment import get_embodiment
from vla_ray.embodiment.config import ActionScaling
from vla_ray.language import encode_instruction

# Mirrored lateral leg joints: equal values on both sides mean a mirror-symmetric pose.
LATERAL_LEG_JOINTS = ("hip_yaw", "hip_roll", "ankle_roll")


class HumanoidLocomotionEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None, **settings):
        self.config = HumanoidEnvConfig.from_kwargs(settings)
        cfg = self.config
        embodiment = get_embodiment(cfg.embodiment)
        if cfg.action_scaling is not None:
            embodiment = embodiment.with_overrides(
                action_scaling=ActionScaling(mode=cfg.action_scaling, scale=embodiment.action_scaling.scale)
            )
        self.embodiment = embodiment
        self.control_dt_s = 1.0 / embodiment.control_frequency_hz
        self.pd_substeps = cfg.pd_substeps or embodiment.interpolation_steps
        self.robot = HumanoidRobot(embodiment, cfg.model_path or embodiment.model_path, self.control_dt_s / self.pd_substeps)
        self.scaler = ActionScaler(embodiment)
        self.safety = SafetyFilter(embodiment)

        camera_shape = cfg.camera_size if cfg.camera else None
        self.observation_spec = humanoid_observation_spec(embodiment, cfg.history_length, camera_shape)
        self.observation_space = self.observation_spec.space()
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(embodiment.action_dim,), dtype=np.float32)

        names = embodiment.joint_names
        self._hip_pitch = np.array([names.index("l_hip_pitch"), names.index("r_hip_pitch")])
        self._lateral = np.array(
            [[names.index(f"{side}_{j}") for j in LATERAL_LEG_JOINTS] for side in ("l", "r")]
        )
        self.render_mode = render_mode
        self._renderer = None
        self._camera_renderer = None
        self._pending_settings: dict = {}
        self._apply_task()
        self._history: deque | None = deque(maxlen=cfg.history_length) if cfg.history_length else None

    # -- task ---------------------------------------------------------------------------------------
    def apply_settings(self, settings: dict) -> None:
        """Change task, command or pushes (e.g. a curriculum stage); validated now, in effect from the next
        reset so that no episode mixes two tasks. Camera, history and model settings are fixed at construction."""
        merged = {**self._pending_settings, **settings}
        self.config.updated(merged)  # fail now, in the caller, rather than at some later reset
        self._pending_settings = merged

    def _apply_task(self) -> None:
        if self._pending_settings:
            self.config = self.config.updated(self._pending_settings)
            self._pending_settings = {}
        cfg = self.config
        self.task = make_task(cfg.task, cfg.target_velocity_mps, cfg.reward_weights)
        self.max_episode_steps = int(round(cfg.episode_length_s / self.control_dt_s))
        self._terms = [(name, REWARD_TERMS[name], w) for name, w in self.task.reward_weights.items() if w != 0.0]
        self._command = self.task.command
        self._instruction_code = encode_instruction(self.task.instruction)

    # -- gym API ------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._apply_task()
        qpos = self.robot.nominal_qpos.copy()
        noise = self.np_random.uniform(-1.0, 1.0, self.embodiment.num_joints) * self.config.reset_joint_noise_rad
        qpos[self.robot.qpos_index] = np.clip(
            qpos[self.robot.qpos_index] + noise, self.embodiment.joint_lower, self.embodiment.joint_upper
        )
        self.robot.reset(qpos)
        self._prev_action = self.scaler.to_normalized(self.embodiment.nominal_pose).astype(np.float32)
        self._step = 0
        self._episode_sums = {name: 0.0 for name, _, _ in self._terms}
        self._velocity_abs_err_sum = 0.0
        self._safety_clamps = 0
        self._safety_fallbacks = 0
        self._next_push_step = self._draw_push_step()
        self._push_end_step = -1
        if self._history is not None:
            self._history.clear()
            frame = self._proprio_frame()
            for _ in range(self.config.history_length):
                self._history.append(frame)
        return self._observation(), {"task": self.task.name, "instruction": self.task.instruction}

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        robot = self.robot
        if self._history is not None:
            self._history.append(self._proprio_frame())
        targets, report = self.safety(self.scaler.to_targets(action), robot.joint_pos)
        self._safety_clamps += int(report.any_clamped)
        self._safety_fallbacks += int(report.fallback)
        self._update_push()
        robot.step(targets, self.pd_substeps)
        self._step += 1

        state = self._measure(np.clip(action, -1.0, 1.0))
        reward = 0.0
        for name, term, weight in self._terms:
            value = weight * term(state)
            self._episode_sums[name] += value
            reward += value
        self._velocity_abs_err_sum += abs(state.forward_velocity_mps - state.target_velocity_mps)
        fell = [name for name, term in TERMINATION_TERMS.items() if term(state)]
        terminated = bool(fell) or not np.all(np.isfinite(robot.data.qpos))
        truncated = not terminated and self._step >= self.max_episode_steps
        self._prev_action = state.action.astype(np.float32)
        info = {"forward_velocity_mps": state.forward_velocity_mps}
        if terminated or truncated:
            info["episode"] = self._episode_summary(fell)
        return self._observation(), float(reward), terminated, truncated, info

    # -- internals ----------------------------------------------------------------------------------
    def _measure(self, action: np.ndarray) -> StepState:
        robot = self.robot
        roll, pitch = robot.roll_pitch()
        q = robot.joint_pos
        contacts = robot.contacts()
        return StepState(
            base_height_m=float(robot.data.qpos[2]),
            nominal_base_height_m=robot.nominal_base_height_m,
            roll_rad=roll,
            pitch_rad=pitch,
            forward_velocity_mps=float(robot.heading_velocity()[0]),
            target_velocity_mps=float(self._command[0]),
            normalized_torque=robot.normalized_torque(),
            action=action,
            prev_action=self._prev_action,
            foot_contact=contacts[:2],
            foot_height_m=robot.foot_heights(),
            leg_pitch_offsets_rad=q[self._hip_pitch] - self.embodiment.nominal_pose[self._hip_pitch],
            leg_lateral_rad=q[self._lateral],
        )

    def _episode_summary(self, fell: list[str]) -> dict:
        steps = max(self._step, 1)
        return {
            "task": self.task.name,
            "target_velocity_mps": self.task.target_velocity_mps,
            "length_steps": self._step,
            "duration_s": self._step * self.control_dt_s,
            "fell": bool(fell),
            "termination": fell[0] if fell else None,
            "velocity_tracking_error_mps": self._velocity_abs_err_sum / steps,
            "safety_clamp_steps": self._safety_clamps,
            "safety_fallback_steps": self._safety_fallbacks,
            "reward_terms": dict(self._episode_sums),
        }

    def _proprio_frame(self) -> np.ndarray:
        robot = self.robot
        return np.concatenate(
            [robot.joint_pos, np.clip(robot.joint_vel, -JOINT_VEL_LIMIT, JOINT_VEL_LIMIT), np.clip(robot.imu(), -IMU_LIMIT, IMU_LIMIT)]
        ).astype(np.float32)

    def _observation(self) -> dict:
        robot = self.robot
        v = robot.heading_velocity()
        obs = {
            "joint_pos": robot.joint_pos.astype(np.float32),
            "joint_vel": np.clip(robot.joint_vel, -JOINT_VEL_LIMIT, JOINT_VEL_LIMIT).astype(np.float32),
            "imu": np.clip(robot.imu(), -IMU_LIMIT, IMU_LIMIT).astype(np.float32),
            "contacts": robot.contacts().astype(np.float32),
            "force_torque": np.clip(robot.wrench(), -FORCE_LIMIT_N, FORCE_LIMIT_N).astype(np.float32),
            "command": self._command.copy(),
            "prev_action": self._prev_action.copy(),
            "instruction": self._instruction_code.copy(),
            "privileged": np.clip([v[0], v[1], v[2], robot.data.qpos[2]], -50.0, 50.0).astype(np.float32),
        }
        if self._history is not None:
            obs["proprio_history"] = np.stack(self._history)
        if self.config.camera:
            obs["camera_rgb"] = self._render_camera()
        return obs

    def _draw_push_step(self) -> int:
        if self.config.push_force_max_n <= 0:
            return -1
        low, high = self.config.push_interval_s
        return self._step + int(round(self.np_random.uniform(low, high) / self.control_dt_s))

    def _update_push(self) -> None:
        """Random horizontal pushes on the torso (seed: push_force 0-100 N), each held for push_duration_s."""
        if self._step == self._next_push_step:
            angle = self.np_random.uniform(0.0, 2 * np.pi)
            magnitude = self.np_random.uniform(0.0, self.config.push_force_max_n)
            self.robot.push(magnitude * np.array([np.cos(angle), np.sin(angle)]))
            self._push_end_step = self._step + max(1, int(round(self.config.push_duration_s / self.control_dt_s)))
            self._next_push_step = self._draw_push_step()
        elif self._step == self._push_end_step:
            self.robot.push(np.zeros(2))

    def _render_camera(self) -> np.ndarray:
        if self._camera_renderer is None:
            h, w = self.config.camera_size
            self._camera_renderer = mujoco.Renderer(self.robot.model, height=h, width=w)
        self._camera_renderer.update_scene(self.robot.data, camera=self.config.camera)
        return self._camera_renderer.render().copy()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.robot.model, height=480, width=640)
        self._renderer.update_scene(self.robot.data, camera="track")
        return self._renderer.render().copy()

    def close(self):
        for renderer in (self._renderer, self._camera_renderer):
            if renderer is not None:
                renderer.close()
        self._renderer = self._camera_renderer = None
