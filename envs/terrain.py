"""Terrain grid: one MuJoCo heightfield of difficulty levels x terrain types, and legged_gym's level curriculum.

Layout (legged_gym's): tile (level, type) spans x in [level*L, (level+1)*L) and y in [t*L, (t+1)*L), with L the
tile size and t the type's column in `TerrainConfig.types`; a flat border surrounds the grid. Every robot spawns at
the start of the tile of its own level and type, on its centre line, and walks along +x (HEADING_YAW_RAD), so a
level change moves the spawn point, not the model. Every tile starts with a flat pad at height 0 and ends at
height 0, so tiles and border meet without cliffs: slopes and stairs climb (or descend) over the first half of
the tile and mirror back over the second, and the first half is what the curriculum's promotion asks a robot to
walk (legged_gym's pyramids, cut along the walking direction).

Resolution: heights live on vertices, and MuJoCo joins them with two triangles per cell (split along the
(row, col)-(row+1, col+1) diagonal), so every step edge is a ramp one cell wide. A tread, stone or gap of n cells
is n*resolution wide measured at half its rise or depth; its flat part is one cell narrower. Along the walking
direction 0.02 m makes the seed's 0.28 m run, 0.3 m stones and 0.4 m spacing whole cells; across it only stones
and rough ground vary, so legged_gym's 0.1 m suffices there and keeps the heightfield 5x smaller (each robot owns
a copy of the model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.configs import checked_keys

TERRAIN_TYPES = ("flat", "rough", "slope_up", "slope_down", "stairs_up", "stairs_down", "stepping_stones", "gaps")
NUM_LEVELS = 10
HEADING_YAW_RAD = 0.0  # robots walk along +x: features, promotion distance and spawn points assume it
DEFAULT_TILE_SIZE_M = 8.0  # legged_gym's terrain_length / terrain_width
TERRAIN_NAME = "terrain"  # the hfield asset and the geom
FLOOR_NAME = "floor"
BASE_THICKNESS_M = 0.5  # MuJoCo's hfield base below the deepest vertex; any positive value works
MIN_ELEVATION_M = 1e-3  # MuJoCo needs a positive elevation range even for an all-flat grid
# Contact and look of a scene's floor plane, carried over to the terrain that replaces it.
FLOOR_ATTRIBUTES = (
    "contype", "conaffinity", "condim", "friction", "solref", "solimp", "solmix", "priority", "margin", "gap",
    "material", "rgba", "group",
)
_EPS = 1e-9


def _cells(length_m: float, resolution_m: float) -> int:
    """Whole cells nearest to a length (halves round up, so levels grow monotonically)."""
    return int(math.floor(length_m / resolution_m + 0.5 + _EPS))


def _is_multiple(length_m: float, resolution_m: float) -> bool:
    return abs(length_m / resolution_m - round(length_m / resolution_m)) < 1e-6


def difficulty(level: int) -> float:
    """Fraction of full difficulty: 0.1 at level 0 (nearly flat), 1.0 at level NUM_LEVELS - 1 (the seed's)."""
    return (level + 1) / NUM_LEVELS


@dataclass(frozen=True)
class LevelParameters:
    """The geometry of one level as generated, lengths rounded to whole cells."""

    slope_deg: float
    stairs_rise_m: float
    stairs_run_m: float
    rough_amplitude_m: float  # peak to peak
    gap_width_m: float
    stone_size_m: tuple[float, float]  # (along x, along y)
    stone_spacing_m: float  # centre to centre, both axes


@dataclass(frozen=True)
class TerrainConfig:
    types: tuple[str, ...] = TERRAIN_TYPES  # the grid's columns
    tile_size_m: float = DEFAULT_TILE_SIZE_M
    resolution_x_m: float = 0.02  # along the walking direction: the seed's stair run and stones are whole cells
    resolution_y_m: float = 0.1  # across it: legged_gym's horizontal_scale
    border_m: float = 4.0  # flat margin around the grid
    seed: int = 0
    start_pad_m: float = 1.0  # flat at each tile's start (robots spawn on its middle) and, mirrored, at its end
    plateau_m: float = 1.0  # flat top (bottom) in the middle of slope and stairs tiles
    # Full difficulty (level NUM_LEVELS - 1); seed: humanoid guide, Stage 3, "Terrain Adaptation".
    slope_deg: float = 15.0
    stairs_rise_m: float = 0.17
    stairs_run_m: float = 0.28
    rough_amplitude_m: float = 0.05  # seed "roughness: 0.05", read as peak to peak
    rough_cell_m: float = 0.2  # spacing of the random heights that rough ground interpolates
    stone_size_m: float = 0.3
    stone_spacing_m: float = 0.4
    gap_width_m: float = 0.4  # ours: a long stride for a 1.7 m humanoid with 0.22 m feet
    gap_platform_m: float = 1.0  # ground between consecutive gaps
    hole_depth_m: float = 1.0  # below the surface, between stones and in gaps: a robot that steps in falls

    def __post_init__(self):
        def fail(name, expected):
            raise ValueError(f"TerrainConfig.{name}={getattr(self, name)!r}: expected {expected}")

        unknown = [t for t in self.types if t not in TERRAIN_TYPES]
        if not self.types or unknown or len(set(self.types)) != len(self.types):
            fail("types", f"a non-empty tuple of distinct names among {TERRAIN_TYPES}")
        if not isinstance(self.seed, int) or self.seed < 0:
            fail("seed", "an integer >= 0")
        for name in ("resolution_x_m", "resolution_y_m", "tile_size_m", "rough_cell_m", "hole_depth_m",
                     "gap_platform_m", "stairs_run_m", "stone_size_m"):
            if not getattr(self, name) > 0:
                fail(name, "> 0")
        for name in ("border_m", "start_pad_m", "plateau_m", "stairs_rise_m", "rough_amplitude_m", "gap_width_m"):
            if not getattr(self, name) >= 0:
                fail(name, ">= 0")
        if not 0 <= self.slope_deg < 60:
            fail("slope_deg", "within [0, 60)")
        if self.stone_spacing_m <= self.stone_size_m:
            fail("stone_spacing_m", f"> stone_size_m={self.stone_size_m} (holes between the stones)")
        # Exact geometry: every length must be whole cells of the resolution it is laid out on.
        both_axes = ("tile_size_m", "border_m", "rough_cell_m", "stone_size_m", "stone_spacing_m")
        along_x = ("start_pad_m", "plateau_m", "stairs_run_m", "gap_width_m", "gap_platform_m")
        for name in both_axes + along_x:
            for resolution in ("resolution_x_m",) + (("resolution_y_m",) if name in both_axes else ()):
                if not _is_multiple(getattr(self, name), getattr(self, resolution)):
                    fail(name, f"a whole multiple of {resolution}={getattr(self, resolution)}")
        if self.ramp_m < self.stairs_run_m:
            fail("plateau_m", f"at most tile_size_m - 2 * (start_pad_m + stairs_run_m) = "
                              f"{self.tile_size_m - 2 * (self.start_pad_m + self.stairs_run_m):.3f}")

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "TerrainConfig":
        values = checked_keys(cls, kwargs, "TerrainConfig")
        if "types" in values:
            values["types"] = tuple(values["types"])
        return cls(**values)

    @property
    def ramp_m(self) -> float:
        """Length of the climb (descent) of slope and stairs tiles, from the start pad to the plateau."""
        return self.tile_size_m / 2 - self.start_pad_m - self.plateau_m / 2

    def level(self, level: int) -> LevelParameters:
        """The geometry of `level`: full difficulty scaled by `difficulty(level)`."""
        if not 0 <= level < NUM_LEVELS:
            raise ValueError(f"level={level!r}: expected an integer in [0, {NUM_LEVELS - 1}]")
        f, dx, dy = difficulty(level), self.resolution_x_m, self.resolution_y_m
        stone_hole_m = (self.stone_spacing_m - self.stone_size_m) * f
        return LevelParameters(
            slope_deg=self.slope_deg * f,
            stairs_rise_m=self.stairs_rise_m * f,
            stairs_run_m=self.stairs_run_m,  # legged_gym keeps the run and raises the steps
            rough_amplitude_m=self.rough_amplitude_m * f,
            gap_width_m=_cells(self.gap_width_m * f, dx) * dx,
            # Holes between stones widen with the level while the spacing stays: easy levels are nearly whole.
            stone_size_m=(self.stone_spacing_m - _cells(stone_hole_m, dx) * dx,
                          self.stone_spacing_m - _cells(stone_hole_m, dy) * dy),
            stone_spacing_m=self.stone_spacing_m,
        )


# Tile generators: (config, level parameters, rng) -> (ny, nx) vertex heights of one tile, rows along y,
# vertex (j, i) at (i * resolution_x_m, j * resolution_y_m) from the tile's corner.

def _tile_shape(c: TerrainConfig) -> tuple[int, int]:
    return _cells(c.tile_size_m, c.resolution_y_m), _cells(c.tile_size_m, c.resolution_x_m)


def _folded_x_cells(c: TerrainConfig) -> np.ndarray:
    """Cells from the nearer x end of the tile: features climb over the first half and mirror back."""
    nx = _tile_shape(c)[1]
    i = np.arange(nx)
    return np.minimum(i, nx - i)


def _across(c: TerrainConfig, profile: np.ndarray) -> np.ndarray:
    return np.tile(profile, (_tile_shape(c)[0], 1))


def _flat(c: TerrainConfig, p: LevelParameters, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(_tile_shape(c))


def _slope(sign: float):
    def generate(c: TerrainConfig, p: LevelParameters, rng: np.random.Generator) -> np.ndarray:
        u = _folded_x_cells(c) * c.resolution_x_m
        return _across(c, sign * math.tan(math.radians(p.slope_deg)) * np.clip(u - c.start_pad_m, 0.0, c.ramp_m))
    return generate


def _stairs(sign: float):
    def generate(c: TerrainConfig, p: LevelParameters, rng: np.random.Generator) -> np.ndarray:
        pad, run = _cells(c.start_pad_m, c.resolution_x_m), _cells(p.stairs_run_m, c.resolution_x_m)
        steps = math.floor(c.ramp_m / p.stairs_run_m + _EPS)  # the last tread runs on into the plateau
        step = np.clip((_folded_x_cells(c) - pad) // run + 1, 0, steps)
        return _across(c, sign * p.stairs_rise_m * step)
    return generate


def _interpolation(n: int, every: int) -> np.ndarray:
    """(n, knots) weights of linear interpolation from knots every `every` vertices."""
    i = np.arange(n)
    k, t = i // every, (i % every) / every
    weights = np.zeros((n, n // every + 2))
    weights[i, k] = 1.0 - t
    weights[i, k + 1] = t
    return weights


def _rough(c: TerrainConfig, p: LevelParameters, rng: np.random.Generator) -> np.ndarray:
    # Random heights on a coarse lattice, bilinear in between: independent 0.02 m cells would be near-vertical spikes.
    (ny, nx), pad = _tile_shape(c), _cells(c.start_pad_m, c.resolution_x_m)
    kx, ky = _cells(c.rough_cell_m, c.resolution_x_m), _cells(c.rough_cell_m, c.resolution_y_m)
    wy, wx = _interpolation(ny, ky), _interpolation(nx, kx)
    knots = rng.uniform(-0.5, 0.5, (wy.shape[1], wx.shape[1])) * p.rough_amplitude_m
    knot_x = np.arange(wx.shape[1]) * kx
    knots[:, (knot_x <= pad) | (knot_x >= nx - pad)] = 0.0  # ease in from the pads instead of a ledge
    heights = wy @ knots @ wx.T
    heights[:, :pad] = heights[:, nx - pad:] = 0.0
    return heights


def _gaps(c: TerrainConfig, p: LevelParameters, rng: np.random.Generator) -> np.ndarray:
    nx, pad = _tile_shape(c)[1], _cells(c.start_pad_m, c.resolution_x_m)
    gap, platform = _cells(p.gap_width_m, c.resolution_x_m), _cells(c.gap_platform_m, c.resolution_x_m)
    profile = np.zeros(nx)
    if gap:
        for start in range(pad, nx - pad - gap + 1, gap + platform):
            profile[start : start + gap] = -c.hole_depth_m
    return _across(c, profile)


def _stepping_stones(c: TerrainConfig, p: LevelParameters, rng: np.random.Generator) -> np.ndarray:
    # Rows of stones across the walk at exact spacing; each row shifted sideways at random, so the layout
    # (not the stride) depends on the seed and a robot must step sideways by up to half a spacing.
    (ny, nx), pad = _tile_shape(c), _cells(c.start_pad_m, c.resolution_x_m)
    pitch_x, pitch_y = _cells(p.stone_spacing_m, c.resolution_x_m), _cells(p.stone_spacing_m, c.resolution_y_m)
    hole_x = pitch_x - _cells(p.stone_size_m[0], c.resolution_x_m)
    hole_y = pitch_y - _cells(p.stone_size_m[1], c.resolution_y_m)
    heights = np.full((ny, nx), -c.hole_depth_m)
    heights[:, :pad] = heights[:, nx - pad:] = 0.0
    for row_start in range(pad, nx - pad - pitch_x + 1, pitch_x):
        on_stone = (np.arange(ny) - rng.integers(pitch_y)) % pitch_y >= hole_y
        heights[np.ix_(on_stone, np.arange(row_start + hole_x, row_start + pitch_x))] = 0.0
    return heights


GENERATORS = {
    "flat": _flat,
    "rough": _rough,
    "slope_up": _slope(1.0),
    "slope_down": _slope(-1.0),
    "stairs_up": _stairs(1.0),
    "stairs_down": _stairs(-1.0),
    "stepping_stones": _stepping_stones,
    "gaps": _gaps,
}


class TerrainGrid:
    """The heightfield of a TerrainConfig: `heights[row, col]` in metres, rows along y, vertex (0, 0) at
    (-border_m, -border_m), MuJoCo's layout."""

    def __init__(self, config: TerrainConfig):
        self.config = c = config
        self._tile_ny, self._tile_nx = _tile_shape(c)
        self._border = (_cells(c.border_m, c.resolution_y_m), _cells(c.border_m, c.resolution_x_m))
        heights = np.zeros((2 * self._border[0] + len(c.types) * self._tile_ny + 1,
                            2 * self._border[1] + NUM_LEVELS * self._tile_nx + 1))
        for column, name in enumerate(c.types):
            for level in range(NUM_LEVELS):
                # Seeded by (seed, type, level) alone, so a tile does not depend on the other columns.
                rng = np.random.default_rng([c.seed, TERRAIN_TYPES.index(name), level])
                rows, cols = self._tile_slices(column, level)
                heights[rows, cols] = GENERATORS[name](c, c.level(level), rng)
        heights.flags.writeable = False
        self.heights = heights

    def _tile_slices(self, column: int, level: int) -> tuple[slice, slice]:
        r0 = self._border[0] + column * self._tile_ny
        c0 = self._border[1] + level * self._tile_nx
        return slice(r0, r0 + self._tile_ny), slice(c0, c0 + self._tile_nx)

    def _column(self, type_name: str, level: int) -> int:
        if type_name not in self.config.types:
            raise ValueError(f"terrain type {type_name!r}: expected one of {self.config.types}")
        if not 0 <= level < NUM_LEVELS:
            raise ValueError(f"level={level!r}: expected an integer in [0, {NUM_LEVELS - 1}]")
        return self.config.types.index(type_name)

    def tile_heights(self, type_name: str, level: int) -> np.ndarray:
        """(ny, nx) vertex heights of one tile: its far edges are the neighbours' first vertices."""
        return self.heights[self._tile_slices(self._column(type_name, level), level)]

    def spawn_point(self, type_name: str, level: int) -> np.ndarray:
        """(x, y, z): middle of the tile's start pad on its centre line, z the surface height there."""
        c = self.config
        xy = np.array([level * c.tile_size_m + c.start_pad_m / 2,
                       (self._column(type_name, level) + 0.5) * c.tile_size_m])
        return np.append(xy, self.height_at(xy[None])[0])

    def height_at(self, xy: np.ndarray) -> np.ndarray:
        """(N,) surface heights at (N, 2) world points, interpolated on MuJoCo's triangles rather than bilinearly
        (the same on planar cells: slopes, treads, risers; about 1 mm apart at most on level-9 rough ground).
        Points beyond the heightfield read its edge: the border's height."""
        c, h = self.config, self.heights
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        fx = np.clip((xy[:, 0] + c.border_m) / c.resolution_x_m, 0, h.shape[1] - 1)
        fy = np.clip((xy[:, 1] + c.border_m) / c.resolution_y_m, 0, h.shape[0] - 1)
        col = np.minimum(fx.astype(np.int64), h.shape[1] - 2)
        row = np.minimum(fy.astype(np.int64), h.shape[0] - 2)
        u, v = fx - col, fy - row
        h00, h10, h01, h11 = h[row, col], h[row, col + 1], h[row + 1, col], h[row + 1, col + 1]
        below_diagonal = u >= v  # MuJoCo's triangles: (r, c), (r, c+1), (r+1, c+1) and (r, c), (r+1, c), (r+1, c+1)
        return np.where(below_diagonal, h00 + (h10 - h00) * u + (h11 - h10) * v,
                        h00 + (h01 - h00) * v + (h11 - h01) * u)

    def tile_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(type_index, level) int arrays of the tiles under (N, 2) points; border points count as the nearest tile."""
        c = self.config
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        level = np.clip(np.floor(xy[:, 0] / c.tile_size_m), 0, NUM_LEVELS - 1).astype(np.int64)
        type_index = np.clip(np.floor(xy[:, 1] / c.tile_size_m), 0, len(c.types) - 1).astype(np.int64)
        return type_index, level

    def add_to(self, spec: mujoco.MjSpec) -> None:
        """Add the heightfield and a geom "terrain" to the world. A plane named "floor" is removed, its contact
        and look carried over: a plane under the holes would give a robot that steps in ground to stand on, and
        one more contact pair to test every step."""
        c, h = self.config, self.heights
        low = float(h.min())
        elevation = max(float(h.max()) - low, MIN_ELEVATION_M)
        half_x, half_y = (h.shape[1] - 1) * c.resolution_x_m / 2, (h.shape[0] - 1) * c.resolution_y_m / 2
        # MuJoCo rescales elevation data to [0, 1] itself; giving it normalized makes the scale explicit.
        spec.add_hfield(name=TERRAIN_NAME, size=[half_x, half_y, elevation, BASE_THICKNESS_M],
                        nrow=h.shape[0], ncol=h.shape[1], userdata=((h - low) / elevation).ravel())
        geom = spec.worldbody.add_geom(
            name=TERRAIN_NAME, type=mujoco.mjtGeom.mjGEOM_HFIELD, hfieldname=TERRAIN_NAME,
            pos=[half_x - c.border_m, half_y - c.border_m, low],
        )
        floor = spec.geom(FLOOR_NAME)
        if floor is None:
            # The spec's default class may be a robot's (the humanoid's has conaffinity 0): collide explicitly.
            geom.contype, geom.conaffinity = 1, 1
            return
        for name in FLOOR_ATTRIBUTES:
            setattr(geom, name, getattr(floor, name))
        spec.delete(floor)


class TerrainCurriculum:
    """legged_gym's game-inspired level curriculum: after each episode a robot that walked past half its tile
    moves up a level, one that walked less than half its commanded distance moves down; a robot that solves the
    top level goes to a random level, so the top does not fill up with robots that stop learning."""

    def __init__(self, num_robots: int, max_initial_level: int = 5, seed: int = 0,
                 tile_size_m: float = DEFAULT_TILE_SIZE_M):
        if num_robots < 1:
            raise ValueError(f"TerrainCurriculum.num_robots={num_robots!r}: expected >= 1")
        if not 0 <= max_initial_level < NUM_LEVELS:
            raise ValueError(
                f"TerrainCurriculum.max_initial_level={max_initial_level!r}: expected in [0, {NUM_LEVELS - 1}]")
        if not tile_size_m > 0:
            raise ValueError(f"TerrainCurriculum.tile_size_m={tile_size_m!r}: expected > 0")
        self.tile_size_m = tile_size_m
        self._rng = np.random.default_rng(seed)
        # legged_gym's max_init_terrain_level: robots start spread over the easy levels.
        self.levels = self._rng.integers(0, max_initial_level + 1, num_robots)

    def update(self, robot_indices: np.ndarray, distance_walked_m: np.ndarray,
               commanded_distance_m: np.ndarray) -> np.ndarray:
        """New levels of `robot_indices` after their episodes; distances from the spawn point, in metres."""
        index = np.asarray(robot_indices, dtype=np.int64).reshape(-1)
        walked = np.broadcast_to(np.asarray(distance_walked_m, dtype=np.float64), index.shape)
        commanded = np.broadcast_to(np.asarray(commanded_distance_m, dtype=np.float64), index.shape)
        promote = walked > self.tile_size_m / 2
        demote = (walked < commanded / 2) & ~promote
        levels = self.levels[index] + promote.astype(np.int64) - demote.astype(np.int64)
        solved = levels >= NUM_LEVELS
        levels[solved] = self._rng.integers(0, NUM_LEVELS, int(solved.sum()))
        self.levels[index] = np.maximum(levels, 0)
        return self.levels[index].copy()

    def summary(self) -> dict[str, float]:
        """Mean level and robots per level, flat for a metrics logger."""
        counts = np.bincount(self.levels, minlength=NUM_LEVELS)
        return {"mean_level": float(self.levels.mean()), **{f"robots_level_{i}": int(n) for i, n in enumerate(counts)}}
