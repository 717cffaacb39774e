"""Each humanoid's place on a terrain grid: its tile, where it spawns there, and how a walk moves its level.

A robot keeps one terrain type for the whole run (round-robin by robot index, legged_gym's
habit) and walks the tile of its current level along +x; legged_gym's curriculum moves the
level after each episode from the distance walked against the distance commanded.
"""

from __future__ import annotations

import numpy as np

from envs.terrain import TerrainConfig, TerrainCurriculum, TerrainGrid


class TerrainCourse:
    def __init__(self, config: TerrainConfig, num_robots: int, max_initial_level: int):
        self.grid = TerrainGrid(config)
        self._types = np.arange(num_robots) % len(config.types)
        self.curriculum = TerrainCurriculum(num_robots, max_initial_level, seed=0, tile_size_m=config.tile_size_m)

    def type_name(self, i: int) -> str:
        return self.grid.config.types[self._types[i]]

    def level(self, i: int) -> int:
        return int(self.curriculum.levels[i])

    def spawn_point(self, i: int, fixed_level: int | None) -> np.ndarray:
        """(x, y, ground z) where robot i starts its next episode; `fixed_level` replaces the curriculum's level."""
        if fixed_level is not None:
            self.curriculum.levels[i] = fixed_level
        return self.grid.spawn_point(self.type_name(i), self.level(i))

    def finish(self, i: int, walked_m: float, commanded_m: float, learn: bool) -> dict:
        """The tile robot i's episode was played on; with `learn`, its level moves for the next episode."""
        played = {"type": self.type_name(i), "level": self.level(i)}
        if learn:
            self.curriculum.update(np.array([i]), np.array([walked_m]), np.array([commanded_m]))
        return played
