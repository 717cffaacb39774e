"""Worlds a sweep trains in: a terrain type at a fixed difficulty level plus domain-randomization ranges.

A World is what one Tune trial varies; `env_settings` turns it into the environment settings
the terrain-capable environments (humanoid, quadruped) and every robot's randomization read.
The search space maps each swept quantity to a Tune grid (every value) or a random choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ray import tune

from envs.randomization import RandomizationConfig
from envs.terrain import NUM_LEVELS, TERRAIN_TYPES

SEARCH_MODES = ("grid", "random")


@dataclass(frozen=True)
class World:
    terrain: str | None = None  # a terrain type; None: the scene's own floor (manipulation tables, flat ground)
    level: int = 0  # difficulty 0..9 of the terrain
    randomization: dict = field(default_factory=dict)  # RandomizationConfig fields; {}: the environment's own
    terrain_curriculum: bool = False  # True: `level` is where robots start, the level curriculum moves them

    def __post_init__(self):
        if self.terrain is not None and self.terrain not in TERRAIN_TYPES:
            raise ValueError(f"World.terrain={self.terrain!r}: expected None or one of {TERRAIN_TYPES}")
        if not isinstance(self.level, int) or not 0 <= self.level < NUM_LEVELS:
            raise ValueError(f"World.level={self.level!r}: expected an integer in [0, {NUM_LEVELS - 1}]")
        RandomizationConfig.from_kwargs(self.randomization)  # names the bad range

    @classmethod
    def from_dict(cls, values: dict) -> "World":
        return cls(**values)

    @property
    def name(self) -> str:
        ground = "floor" if self.terrain is None else f"{self.terrain}_L{self.level}"
        if not self.randomization:
            return ground
        ranges = ",".join(f"{k}={_compact(v)}" for k, v in sorted(self.randomization.items()))
        return f"{ground}[{ranges}]"

    def env_settings(self, base: dict) -> dict:
        """`base` environment settings placed in this world (its randomization merges over the base's)."""
        settings = dict(base)
        if self.terrain is not None:
            settings.update(terrain={**base.get("terrain", {}), "types": [self.terrain]}, terrain_level=self.level,
                            terrain_curriculum=self.terrain_curriculum)
        if self.randomization:
            settings["randomization"] = {**base.get("randomization", {}), **self.randomization}
        return settings


def _compact(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(f"{v:g}" for v in value) + ")"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


@dataclass(frozen=True)
class SweepSpace:
    """What a sweep varies. Terrains and levels are always a grid (the results table has a row per terrain);
    each randomization field lists candidate values, crossed as a grid or drawn at random per trial."""

    terrains: tuple[str | None, ...] = (None,)
    levels: tuple[int, ...] = (0,)
    randomization: dict = field(default_factory=dict)  # field -> list of candidate values (ranges or stds)
    search: str = "grid"
    terrain_curriculum: bool = False

    def __post_init__(self):
        if self.search not in SEARCH_MODES:
            raise ValueError(f"SweepSpace.search={self.search!r}: expected one of {SEARCH_MODES}")
        if not self.terrains or not self.levels:
            raise ValueError("SweepSpace.terrains and SweepSpace.levels: expected at least one value each")
        if self.terrains == (None,) and len(self.levels) > 1:
            raise ValueError(f"SweepSpace.levels={self.levels!r}: expected one level without terrains to sweep")
        for name, candidates in self.randomization.items():
            if not isinstance(candidates, (list, tuple)) or not candidates:
                raise ValueError(f"SweepSpace.randomization[{name!r}]={candidates!r}: expected a non-empty list")
        # Every combination must be a valid world: fail here, not in the tenth trial.
        for terrain in self.terrains:
            for level in self.levels:
                World(terrain, level)
        for name, candidates in self.randomization.items():
            for value in candidates:
                World(randomization={name: value})

    def param_space(self) -> dict:
        pick = tune.grid_search if self.search == "grid" else tune.choice
        return {
            "terrain": tune.grid_search(list(self.terrains)),
            "level": tune.grid_search(list(self.levels)),
            "randomization": {name: pick(list(values)) for name, values in self.randomization.items()},
            "terrain_curriculum": self.terrain_curriculum,
        }
