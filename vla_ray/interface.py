"""PolicyInterface: what a policy exchanges with its robot, derived from an environment's settings.

Serving and export need the observation parts, the embodiment (joint order, limits,
action scaling) and the default instruction of a checkpoint without simulating anything;
environments build their own spaces from the same object, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.observation import ObservationSpec


@dataclass(frozen=True)
class PolicyInterface:
    env_id: str
    embodiment: EmbodimentConfig  # with the environment's action-scaling overrides applied
    observation_spec: ObservationSpec
    instruction: str  # what the environment's task says in words; the default when a client sends none
    # The observation part holding the measured positions the safety filter steps from.
    current_position_part: str = "joint_pos"

    def __post_init__(self):
        part = self.observation_spec.part(self.current_position_part)
        if part.shape != (self.embodiment.action_dim,):
            raise ValueError(
                f"PolicyInterface({self.env_id}).current_position_part={self.current_position_part!r} has shape "
                f"{part.shape}: expected ({self.embodiment.action_dim},), one measured position per action channel"
            )
