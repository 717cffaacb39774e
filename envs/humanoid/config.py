"""HumanoidEnvConfig: every setting of the humanoid locomotion environment, validated at construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from envs.humanoid.observations import humanoid_observation_spec
from envs.humanoid.tasks import TASK_NAMES, make_task
from envs.randomization import RandomizationConfig
from envs.terrain import NUM_LEVELS, TerrainConfig
from vla_ray.configs import checked_keys
from vla_ray.embodiment import EMBODIMENTS, EmbodimentConfig, get_embodiment
from vla_ray.interface import PolicyInterface


# Settings that shape the spaces or the simulated model; changing them needs a new environment.
FIXED_AT_CONSTRUCTION = (
    "embodiment", "model_path", "pd_substeps", "history_length", "camera", "camera_size", "action_scaling", "action_scale",
    "terrain", "reference_motion", "action_chunk",
)
# Pushes were top-level settings before `randomization` held them; policy cards saved then (and
# `vla_ray.evaluate --push-force-max`) still give this key, read as randomization.push_force_n = (0, value).
LEGACY_PUSH_FORCE_KEY = "push_force_max_n"


@dataclass(frozen=True)
class HumanoidEnvConfig:
    embodiment: str = "humanoid"
    model_path: str | None = None  # None: the embodiment's model; relative paths resolve under envs/assets
    task: str = "stand"
    target_velocity_mps: float = 0.0
    reward_weights: dict[str, float] = field(default_factory=dict)  # per-term overrides of the task's weights
    # PD substeps per control step; None: the embodiment's interpolation_steps (4 at 50 Hz -> 200 Hz physics)
    pd_substeps: int | None = None
    episode_length_s: float = 20.0
    reset_joint_noise_rad: float = 0.05
    history_length: int = 0  # past proprioceptive frames in the observation (0: none)
    camera: str | None = None  # MJCF camera rendered into the `camera_rgb` part (None: no image)
    camera_size: tuple[int, int] = (64, 64)  # height, width
    action_scaling: str | None = None  # None: the embodiment's; else "joint_limits" or "nominal_offset"
    action_scale: float | None = None  # nominal_offset: rad per unit action; None: the embodiment's
    episode_tag: str = ""  # echoed in every episode summary, so metrics can be grouped (e.g. by curriculum stage)
    # RandomizationConfig fields (physics at reset, latency, pushes, sensor noise); {} = off (opt-in).
    # The seed's stand task is pushed with up to 100 N: {"push_force_n": (0.0, 100.0)}.
    randomization: dict = field(default_factory=dict)
    terrain: dict | None = None  # TerrainConfig fields; None: the scene's flat floor
    # With the curriculum: robots start uniformly on levels 0..terrain_level (legged_gym's max_init_terrain_level);
    # without it, the level every robot walks on.
    terrain_level: int = 0
    terrain_curriculum: bool = True  # promote / demote each robot's level by distance walked
    # Reference-state initialization (AMP): this fraction of resets starts from a random frame of a retargeted
    # motion (a vla_ray.mocap Parquet file), so the policy meets the states the style reward asks for.
    reference_motion: str | None = None
    reference_init_fraction: float = 0.0
    # Control steps per action: the policy outputs this many steps' joint targets at once (the humanoid guide's
    # prediction horizon of 5, the skills head's chunk), executed open loop; the step's reward is their sum.
    action_chunk: int = 1

    def __post_init__(self):
        def fail(name, expected):
            raise ValueError(f"HumanoidEnvConfig.{name}={getattr(self, name)!r}: expected {expected}")

        if self.embodiment not in EMBODIMENTS:
            fail("embodiment", f"one of {sorted(EMBODIMENTS)} (unknown robot)")
        if self.task not in TASK_NAMES:
            fail("task", f"one of {TASK_NAMES}")
        make_task(self.task, self.target_velocity_mps, self.reward_weights)  # validates command and weights
        if self.pd_substeps is not None and self.pd_substeps < 1:
            fail("pd_substeps", "an integer >= 1")
        if self.episode_length_s <= 0:
            fail("episode_length_s", "> 0")
        if self.reset_joint_noise_rad < 0:
            fail("reset_joint_noise_rad", ">= 0")
        if self.history_length < 0:
            fail("history_length", ">= 0")
        if isinstance(self.action_chunk, bool) or not isinstance(self.action_chunk, int) or self.action_chunk < 1:
            fail("action_chunk", "an integer >= 1")
        if any(d <= 0 for d in self.camera_size):
            fail("camera_size", "positive (height, width)")
        if self.action_scaling not in (None, "joint_limits", "nominal_offset"):
            fail("action_scaling", "None, 'joint_limits' or 'nominal_offset'")
        if self.action_scale is not None and self.action_scale <= 0:
            fail("action_scale", "None or > 0")
        self.randomization_config()  # validates the ranges, naming the bad one
        self.terrain_config()
        if not isinstance(self.terrain_level, int) or not 0 <= self.terrain_level < NUM_LEVELS:
            fail("terrain_level", f"an integer in [0, {NUM_LEVELS - 1}]")
        if not isinstance(self.terrain_curriculum, bool):
            fail("terrain_curriculum", "True or False")
        if not 0.0 <= self.reference_init_fraction <= 1.0:
            fail("reference_init_fraction", "within [0, 1]")
        if self.reference_init_fraction > 0 and self.reference_motion is None:
            fail("reference_init_fraction", "0 without a reference_motion")
        if self.reference_motion is not None and not Path(self.reference_motion).is_file():
            fail("reference_motion", "None or an existing motion dataset (python -m vla_ray.mocap.retarget writes one)")
        if self.reference_init_fraction > 0 and self.terrain is not None:
            fail("reference_init_fraction", "0 on a terrain (motions are retargeted onto flat ground)")

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "HumanoidEnvConfig":
        if isinstance(kwargs, Mapping) and LEGACY_PUSH_FORCE_KEY in kwargs:
            kwargs = _with_legacy_push_force(kwargs)
        values = checked_keys(cls, kwargs, "HumanoidEnvConfig")
        if "camera_size" in values:
            values["camera_size"] = tuple(values["camera_size"])
        return cls(**values)

    def randomization_config(self) -> RandomizationConfig:
        return self._randomization

    @cached_property
    def _randomization(self) -> RandomizationConfig:
        return RandomizationConfig.from_kwargs(self.randomization)

    def terrain_config(self) -> TerrainConfig | None:
        return None if self.terrain is None else TerrainConfig.from_kwargs(self.terrain)

    def resolved_embodiment(self) -> EmbodimentConfig:
        """The embodiment preset with this config's action-scaling overrides applied."""
        return get_embodiment(self.embodiment).with_action_scaling(self.action_scaling, self.action_scale)

    def policy_interface(self, env_id: str) -> PolicyInterface:
        """What a policy for these settings exchanges with the robot; no simulator is built."""
        embodiment = self.resolved_embodiment()
        camera_shape = self.camera_size if self.camera else None
        return PolicyInterface(
            env_id=env_id,
            embodiment=embodiment,
            observation_spec=humanoid_observation_spec(embodiment, self.history_length, camera_shape),
            instruction=make_task(self.task, self.target_velocity_mps, self.reward_weights).instruction,
        )

    def updated(self, settings: dict) -> "HumanoidEnvConfig":
        """This config with `settings` changed (validated); settings fixed at construction are refused.
        `randomization` merges into the current ranges, so a sweep can change one range at a time."""
        fixed = sorted(set(settings) & set(FIXED_AT_CONSTRUCTION))
        if fixed:
            raise ValueError(f"HumanoidEnvConfig: {fixed} shape the spaces or the model: expected a new environment")
        if "randomization" in settings:
            settings = {**settings, "randomization": {**self.randomization, **settings["randomization"]}}
        return HumanoidEnvConfig.from_kwargs({**dataclasses.asdict(self), **settings})


def _with_legacy_push_force(kwargs: Mapping) -> dict:
    """`push_force_max_n: f` as `randomization.push_force_n: (0, f)`; it wins over a push_force_n also given,
    as the evaluation CLI's override of a checkpoint's settings must."""
    values = dict(kwargs)
    force = values.pop(LEGACY_PUSH_FORCE_KEY)
    values["randomization"] = {**values.get("randomization", {}), "push_force_n": (0.0, force)}
    return values
