"""PolicyInterface: what a policy exchanges with its robot, derived from an environment's settings.

Serving and export need the observation parts, the embodiment (joint order, limits,
action scaling) and the default instruction of a checkpoint without simulating anything;
environments build their own spaces from the same object, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.observation import ObservationSpec


@dataclass(frozen=True)
class PolicyInterface:
    env_id: str
    embodiment: EmbodimentConfig  # with the environment's action-scaling overrides applied
    observation_spec: ObservationSpec
    instruction: str  # what the environment's task says in words; the default when a client sends none
    # The observation parts holding the measured positions the safety filter steps from, one value per
    # command channel once concatenated: joint positions, then gripper openings for robots with grippers.
    current_position_parts: tuple[str, ...] = ("joint_pos",)

    def __post_init__(self):
        sizes = [self.observation_spec.part(name).shape for name in self.current_position_parts]
        if any(len(shape) != 1 for shape in sizes) or sum(s[0] for s in sizes) != self.embodiment.command_dim:
            raise ValueError(
                f"PolicyInterface({self.env_id}).current_position_parts={self.current_position_parts!r} have shapes "
                f"{sizes}: expected vectors of {self.embodiment.command_dim} values in all, one per command channel"
            )

    def current_positions(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        """(N, command_dim) measured positions from a batch of observation parts."""
        return np.concatenate([np.asarray(parts[name], dtype=np.float64) for name in self.current_position_parts], axis=-1)

    def nominal_positions(self) -> dict[str, np.ndarray]:
        """The current-position parts of a robot at rest in its nominal pose with its grippers open."""
        embodiment = self.embodiment
        values = np.concatenate([embodiment.nominal_pose, np.ones(embodiment.ee_action_dim)])
        sizes = [self.observation_spec.part(name).shape[0] for name in self.current_position_parts]
        return dict(zip(self.current_position_parts, np.split(values, np.cumsum(sizes)[:-1])))
