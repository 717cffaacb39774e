"""RobotEnvConfig: the settings every robot environment shares, validated at construction.

Task families extend it with their own fields (and `_validate_task`); all of them come from
plain mappings (RLlib's env_config, JSON checkpoints) through `from_kwargs` and change at
episode boundaries through `updated`, which refuses settings that shape spaces or the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

from envs.randomization import RandomizationConfig
from vla_ray.configs import checked_keys
from vla_ray.embodiment import EMBODIMENTS, EmbodimentConfig, get_embodiment

# Settings that shape the spaces or the simulated model; changing them needs a new environment.
FIXED_AT_CONSTRUCTION = (
    "embodiment", "model_path", "camera", "camera_size", "action_scaling", "action_scale", "action_type",
    "control_frequency_hz", "terrain", "observe_gait_clock",
)


@dataclass(frozen=True)
class RobotEnvConfig:
    embodiment: str
    task: str
    model_path: str | None = None  # None: the embodiment's model; relative paths resolve under envs/assets
    reward_weights: dict[str, float] = field(default_factory=dict)  # per-term overrides of the task's weights
    episode_length_s: float = 10.0
    reset_joint_noise_rad: float = 0.05
    camera: str | None = None  # MJCF camera rendered into the `camera_rgb` part (None: no image)
    camera_size: tuple[int, int] = (64, 64)  # height, width
    action_scaling: str | None = None  # None: the embodiment's; else "joint_limits" or "nominal_offset"
    action_scale: float | None = None  # nominal_offset: rad per unit action; None: the embodiment's
    # None: the embodiment's (joint positions); "end_effector": the abstract grasp-site action every single arm
    # shares (vla_ray.control.end_effector), converted to joint targets by IK.
    action_type: str | None = None
    # None: the embodiment's. One policy driving several arms runs them all at one rate (PD in between).
    control_frequency_hz: float | None = None
    randomization: dict = field(default_factory=dict)  # RandomizationConfig fields; {} = off (opt-in)
    episode_tag: str = ""  # echoed in every episode summary, so metrics can be grouped

    TUPLE_FIELDS = ("camera_size",)

    def __post_init__(self):
        if self.embodiment not in EMBODIMENTS:
            self._fail("embodiment", f"one of {sorted(EMBODIMENTS)} (unknown robot)")
        if self.episode_length_s <= 0:
            self._fail("episode_length_s", "> 0")
        if self.reset_joint_noise_rad < 0:
            self._fail("reset_joint_noise_rad", ">= 0")
        if len(self.camera_size) != 2 or any(d <= 0 for d in self.camera_size):
            self._fail("camera_size", "positive (height, width)")
        if self.action_scaling not in (None, "joint_limits", "nominal_offset"):
            self._fail("action_scaling", "None, 'joint_limits' or 'nominal_offset'")
        if self.action_scale is not None and self.action_scale <= 0:
            self._fail("action_scale", "None or > 0")
        try:  # action_type and control_frequency_hz follow the embodiment's own rules (EmbodimentConfig)
            self.resolved_embodiment()
        except ValueError as error:
            raise ValueError(f"{type(self).__name__}: {error}") from None
        self.randomization_config()  # validates the ranges, naming the bad one
        self._validate_task()

    def _fail(self, name: str, expected: str):
        raise ValueError(f"{type(self).__name__}.{name}={getattr(self, name)!r}: expected {expected}")

    def _validate_task(self) -> None:
        """Subclasses check their task fields here."""

    @classmethod
    def from_kwargs(cls, kwargs: dict):
        values = checked_keys(cls, kwargs, cls.__name__)
        for name in cls.TUPLE_FIELDS:
            if name in values and values[name] is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def randomization_config(self) -> RandomizationConfig:
        return self._randomization

    @cached_property
    def _randomization(self) -> RandomizationConfig:
        return RandomizationConfig.from_kwargs(self.randomization)

    def resolved_embodiment(self) -> EmbodimentConfig:
        """The embodiment preset with this config's action type, action scaling and control rate applied."""
        preset = get_embodiment(self.embodiment).with_action_scaling(self.action_scaling, self.action_scale)
        if self.control_frequency_hz is not None:
            preset = preset.with_overrides(control_frequency_hz=self.control_frequency_hz)
        return preset.with_action_type(self.action_type)

    def updated(self, settings: dict):
        """This config with `settings` changed (validated); settings fixed at construction are refused.
        `randomization` merges into the current ranges, so a sweep can change one range at a time."""
        fixed = sorted(set(settings) & set(FIXED_AT_CONSTRUCTION))
        if fixed:
            raise ValueError(f"{type(self).__name__}: {fixed} shape the spaces or the model: expected a new environment")
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if "randomization" in settings:
            settings = {**settings, "randomization": {**self.randomization, **settings["randomization"]}}
        return type(self).from_kwargs({**values, **settings})
