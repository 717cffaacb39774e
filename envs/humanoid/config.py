"""HumanoidEnvConfig: every setting of the humanoid locomotion environment, validated at construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from envs.humanoid.observations import humanoid_observation_spec
from envs.humanoid.tasks import TASK_NAMES, make_task
from vla_ray.configs import checked_keys
from vla_ray.embodiment import EMBODIMENTS, EmbodimentConfig, get_embodiment
from vla_ray.embodiment.config import ActionScaling
from vla_ray.interface import PolicyInterface


# Settings that shape the spaces or the simulated model; changing them needs a new environment.
FIXED_AT_CONSTRUCTION = (
    "embodiment", "model_path", "pd_substeps", "history_length", "camera", "camera_size", "action_scaling", "action_scale",
)


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
    push_force_max_n: float = 0.0  # seed: pushes up to 100 N for the stand task
    push_interval_s: tuple[float, float] = (2.0, 4.0)
    push_duration_s: float = 0.2
    reset_joint_noise_rad: float = 0.05
    history_length: int = 0  # past proprioceptive frames in the observation (0: none)
    camera: str | None = None  # MJCF camera rendered into the `camera_rgb` part (None: no image)
    camera_size: tuple[int, int] = (64, 64)  # height, width
    action_scaling: str | None = None  # None: the embodiment's; else "joint_limits" or "nominal_offset"
    action_scale: float | None = None  # nominal_offset: rad per unit action; None: the embodiment's
    episode_tag: str = ""  # echoed in every episode summary, so metrics can be grouped (e.g. by curriculum stage)

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
        if self.push_force_max_n < 0:
            fail("push_force_max_n", ">= 0")
        low, high = self.push_interval_s
        if not 0 < low <= high:
            fail("push_interval_s", "(low, high) with 0 < low <= high")
        if self.push_duration_s <= 0:
            fail("push_duration_s", "> 0")
        if self.reset_joint_noise_rad < 0:
            fail("reset_joint_noise_rad", ">= 0")
        if self.history_length < 0:
            fail("history_length", ">= 0")
        if any(d <= 0 for d in self.camera_size):
            fail("camera_size", "positive (height, width)")
        if self.action_scaling not in (None, "joint_limits", "nominal_offset"):
            fail("action_scaling", "None, 'joint_limits' or 'nominal_offset'")
        if self.action_scale is not None and self.action_scale <= 0:
            fail("action_scale", "None or > 0")

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "HumanoidEnvConfig":
        values = checked_keys(cls, kwargs, "HumanoidEnvConfig")
        for name in ("push_interval_s", "camera_size"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def resolved_embodiment(self) -> EmbodimentConfig:
        """The embodiment preset with this config's action-scaling overrides applied."""
        embodiment = get_embodiment(self.embodiment)
        if self.action_scaling is None and self.action_scale is None:
            return embodiment
        return embodiment.with_overrides(
            action_scaling=ActionScaling(
                mode=self.action_scaling or embodiment.action_scaling.mode,
                scale=self.action_scale or embodiment.action_scaling.scale,
            )
        )

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
        """This config with `settings` changed (validated); settings fixed at construction are refused."""
        fixed = sorted(set(settings) & set(FIXED_AT_CONSTRUCTION))
        if fixed:
            raise ValueError(f"HumanoidEnvConfig: {fixed} shape the spaces or the model: expected a new environment")
        return HumanoidEnvConfig.from_kwargs({**dataclasses.asdict(self), **settings})
