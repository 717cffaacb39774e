"""The one definition of an environment's observation: named parts with shapes, units and bounds.

Environments build their gymnasium space from it, the policy module reads parts by
name, and the serving API validates requests against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

DTYPES = ("float32", "uint8")
# The episode clock (seconds since reset) a quadruped environment observes on request: the CPG action head's
# oscillators read it, and nothing else does.
GAIT_CLOCK_PART = "gait_clock"


@dataclass(frozen=True)
class ObservationPart:
    name: str
    shape: tuple[int, ...]
    unit: str
    description: str
    low: float = -np.inf
    high: float = np.inf
    dtype: str = "float32"
    # False for privileged parts (simulator state a real robot does not measure):
    # only the value function reads them, and a served policy never needs them.
    policy_input: bool = True

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"ObservationPart.name={self.name!r}: expected an identifier")
        if not self.shape or any(int(d) <= 0 for d in self.shape):
            raise ValueError(f"ObservationPart({self.name}).shape={self.shape}: expected positive dimensions")
        if self.dtype not in DTYPES:
            raise ValueError(f"ObservationPart({self.name}).dtype={self.dtype!r}: expected one of {DTYPES}")
        if not self.low < self.high:
            raise ValueError(f"ObservationPart({self.name}): low={self.low} must be < high={self.high}")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def space(self) -> spaces.Box:
        return spaces.Box(low=self.low, high=self.high, shape=self.shape, dtype=np.dtype(self.dtype))


@dataclass(frozen=True)
class ObservationSpec:
    parts: tuple[ObservationPart, ...]

    def __post_init__(self):
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"ObservationSpec.parts: duplicate part names in {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    @property
    def policy_parts(self) -> tuple[ObservationPart, ...]:
        return tuple(p for p in self.parts if p.policy_input)

    def part(self, name: str) -> ObservationPart:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"no observation part {name!r}: expected one of {list(self.names)}")

    def space(self) -> spaces.Dict:
        return spaces.Dict({p.name: p.space() for p in self.parts})
