"""QuadrupedEnvConfig: commanded-velocity walking on flat ground or a terrain grid, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass

from envs.quadruped.observations import quadruped_observation_spec
from envs.quadruped.rewards import REWARD_TERMS, WALK_REWARD_WEIGHTS
from envs.robot_config import RobotEnvConfig
from envs.terrain import NUM_LEVELS, TerrainConfig
from vla_ray.embodiment import get_embodiment
from vla_ray.interface import PolicyInterface

TASK_NAMES = ("walk",)


@dataclass(frozen=True)
class WalkTask:
    name: str
    instruction: str
    reward_weights: dict


@dataclass(frozen=True)
class QuadrupedEnvConfig(RobotEnvConfig):
    embodiment: str = "spot"
    task: str = "walk"
    episode_length_s: float = 20.0
    # Commands are drawn uniformly from these ranges at reset and every command_resample_s (legged_gym).
    command_vx_mps: tuple[float, float] = (0.0, 1.0)
    command_vy_mps: tuple[float, float] = (-0.3, 0.3)
    command_yaw_rps: tuple[float, float] = (-0.5, 0.5)
    command_resample_s: float = 10.0
    success_velocity_error_mps: float = 0.15  # episode mean |v_xy - command| for success (and no fall)
    terrain: dict | None = None  # TerrainConfig fields; None: flat floor
    # With the curriculum: robots start uniformly on levels 0..terrain_level (legged_gym's max_init_terrain_level);
    # without it, the level every robot walks on.
    terrain_level: int = 0
    terrain_curriculum: bool = True  # promote / demote each robot's level by distance walked
    # Observe the episode clock (part gait_clock, seconds since reset): the CPG action head's oscillators read it.
    observe_gait_clock: bool = False

    TUPLE_FIELDS = RobotEnvConfig.TUPLE_FIELDS + ("command_vx_mps", "command_vy_mps", "command_yaw_rps")

    def _validate_task(self) -> None:
        if self.task not in TASK_NAMES:
            self._fail("task", f"one of {TASK_NAMES}")
        if get_embodiment(self.embodiment).robot_type != "quadruped":
            self._fail("embodiment", "a quadruped")
        for name in ("command_vx_mps", "command_vy_mps", "command_yaw_rps"):
            low, high = getattr(self, name)
            if not low <= high:
                self._fail(name, "(low, high) with low <= high")
        if self.command_resample_s <= 0:
            self._fail("command_resample_s", "> 0")
        if self.success_velocity_error_mps <= 0:
            self._fail("success_velocity_error_mps", "> 0")
        unknown = sorted(set(self.reward_weights) - set(REWARD_TERMS))
        if unknown:
            self._fail("reward_weights", f"names among {sorted(REWARD_TERMS)} (unknown {unknown})")
        if self.terrain is not None:
            self.terrain_config()
        if not 0 <= self.terrain_level < NUM_LEVELS:
            self._fail("terrain_level", f"an integer in [0, {NUM_LEVELS - 1}]")

    def terrain_config(self) -> TerrainConfig | None:
        return None if self.terrain is None else TerrainConfig.from_kwargs(self.terrain)

    def make_task(self) -> WalkTask:
        ranges = (self.command_vx_mps, self.command_vy_mps, self.command_yaw_rps)
        if all(low == high for low, high in ranges):
            vx, vy, yaw = (low for low, _ in ranges)
            instruction = f"walk at {vx:.1f} m/s forward, {vy:.1f} m/s sideways, turning at {yaw:.1f} rad/s"
        else:
            instruction = "walk following the commanded velocity"
        return WalkTask(self.task, instruction, {**WALK_REWARD_WEIGHTS, **self.reward_weights})

    def policy_interface(self, env_id: str) -> PolicyInterface:
        embodiment = self.resolved_embodiment()
        spec = quadruped_observation_spec(embodiment, self.camera_size if self.camera else None, self.observe_gait_clock)
        return PolicyInterface(env_id, embodiment, spec, self.make_task().instruction)
