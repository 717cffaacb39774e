"""Terrain grid and level curriculum: the seed's geometry, determinism, and MuJoCo agreeing with height_at."""

import mujoco
import numpy as np
import pytest

from envs.assets import resolve_model_path
from envs.terrain import (
    NUM_LEVELS, TERRAIN_TYPES, TerrainConfig, TerrainCurriculum, TerrainGrid,
)

CONFIG = TerrainConfig()


@pytest.fixture(scope="module")
def grid():
    return TerrainGrid(CONFIG)


def centre_row(grid, type_name, level):
    tile = grid.tile_heights(type_name, level)
    return tile[tile.shape[0] // 2]


def runs(mask):
    """(start, length) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return starts, ends - starts


# --- configuration ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, field", [
    ({"types": ("flat", "lava")}, "types"),
    ({"types": ()}, "types"),
    ({"types": ("flat", "flat")}, "types"),
    ({"resolution_x_m": 0.0}, "resolution_x_m"),
    ({"stairs_run_m": 0.29}, "stairs_run_m"),  # not whole cells of 0.02 m
    ({"stone_size_m": 0.35}, "stone_size_m"),  # not whole cells of 0.1 m across
    ({"stone_spacing_m": 0.3}, "stone_spacing_m"),  # no holes between stones
    ({"slope_deg": 75.0}, "slope_deg"),
    ({"hole_depth_m": -1.0}, "hole_depth_m"),
    ({"plateau_m": 6.0}, "plateau_m"),
    ({"seed": -1}, "seed"),
])
def test_invalid_config_names_the_field(settings, field):
    with pytest.raises(ValueError, match=rf"TerrainConfig\.{field}="):
        TerrainConfig(**settings)


def test_from_kwargs_refuses_unknown_keys_and_accepts_lists():
    with pytest.raises(ValueError, match="unknown key 'stair_height'"):
        TerrainConfig.from_kwargs({"stair_height": 0.2})
    assert TerrainConfig.from_kwargs({"types": ["flat", "gaps"]}).types == ("flat", "gaps")


def test_bad_type_or_level_is_refused(grid):
    with pytest.raises(ValueError, match="terrain type 'lava'"):
        grid.spawn_point("lava", 0)
    with pytest.raises(ValueError, match="level=10"):
        grid.spawn_point("flat", NUM_LEVELS)


# --- generation ------------------------------------------------------------------------------------------------

def test_same_seed_same_heights_other_seed_other_layouts(grid):
    assert np.array_equal(TerrainGrid(CONFIG).heights, grid.heights)
    other = TerrainGrid(TerrainConfig(seed=1))
    for name in ("rough", "stepping_stones"):
        assert not np.array_equal(other.tile_heights(name, 9), grid.tile_heights(name, 9)), name
    assert np.array_equal(other.tile_heights("stairs_up", 9), grid.tile_heights("stairs_up", 9))


def test_a_tile_does_not_depend_on_the_other_columns(grid):
    alone = TerrainGrid(TerrainConfig(types=("rough",)))
    assert np.array_equal(alone.tile_heights("rough", 4), grid.tile_heights("rough", 4))


def hardness(type_name, tile, dx):
    """One number per type that grows with difficulty."""
    if type_name in ("stepping_stones", "gaps"):
        return float(np.mean(tile < -CONFIG.hole_depth_m / 2))  # share of the tile that is hole
    if type_name == "rough":
        return float(np.ptp(tile))
    steepest = np.abs(np.diff(tile, axis=1)).max()
    return float(steepest / dx if type_name.startswith("slope") else steepest)


@pytest.mark.parametrize("type_name", [t for t in TERRAIN_TYPES if t != "flat"])
def test_difficulty_grows_with_the_level(grid, type_name):
    values = [hardness(type_name, grid.tile_heights(type_name, level), CONFIG.resolution_x_m)
              for level in range(NUM_LEVELS)]
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:])), values
    assert values[-1] > 2 * values[0] > 0, values


def test_flat_tiles_are_flat_at_every_level(grid):
    for level in range(NUM_LEVELS):
        assert not grid.tile_heights("flat", level).any()


def test_every_tile_meets_its_neighbours_at_ground_level(grid):
    for type_name in CONFIG.types:
        for level in range(NUM_LEVELS):
            row = centre_row(grid, type_name, level)
            assert row[0] == row[-1] == 0.0, (type_name, level)


@pytest.mark.parametrize("type_name, sign", [("stairs_up", 1), ("stairs_down", -1)])
def test_full_difficulty_stairs_have_the_seeds_rise_and_run(grid, type_name, sign):
    row = centre_row(grid, type_name, NUM_LEVELS - 1)
    half = row[: row.size // 2 + 1]  # the climb (descent); the second half mirrors it
    risers = np.flatnonzero(np.diff(half))
    assert np.allclose(np.diff(half)[risers], sign * 0.17)
    runs_m = np.diff(risers) * CONFIG.resolution_x_m
    assert len(runs_m) >= 6 and np.allclose(runs_m, 0.28)


@pytest.mark.parametrize("type_name, sign", [("slope_up", 1), ("slope_down", -1)])
def test_full_difficulty_slopes_are_15_degrees(grid, type_name, sign):
    row = centre_row(grid, type_name, NUM_LEVELS - 1)
    grade = np.diff(row[: row.size // 2]) / CONFIG.resolution_x_m
    climbing = grade[grade != 0]
    assert np.allclose(np.degrees(np.arctan(sign * climbing)), 15.0)
    assert len(climbing) * CONFIG.resolution_x_m == pytest.approx(CONFIG.ramp_m)


def test_full_difficulty_stepping_stones_are_0_3_m_at_0_4_m_over_deep_holes(grid):
    tile = grid.tile_heights("stepping_stones", NUM_LEVELS - 1)
    assert set(np.unique(tile)) == {0.0, -1.0}
    pad = round(CONFIG.start_pad_m / CONFIG.resolution_x_m)
    field = tile[:, pad:-pad] == 0.0  # stones only, between the start and end pads
    # Along x: rows of stones across the walk; along y, inside each row, stones (rows are shifted at random).
    starts, lengths = runs(field.any(axis=0))
    assert len(starts) == 15
    assert np.allclose(lengths * CONFIG.resolution_x_m, 0.3)
    assert np.allclose(np.diff(starts) * CONFIG.resolution_x_m, 0.4)
    for row_start in starts:
        starts_y, lengths_y = runs(field[:, row_start])
        inner = slice(1, -1)  # stones cut by the tile's edges are shorter
        assert np.allclose(lengths_y[inner] * CONFIG.resolution_y_m, 0.3)
        assert np.allclose(np.diff(starts_y[inner]) * CONFIG.resolution_y_m, 0.4)


def test_gaps_are_deep_and_widen_to_the_configured_width(grid):
    for level in range(NUM_LEVELS):
        row = centre_row(grid, "gaps", level)
        _, lengths = runs(row < 0)
        assert row.min() == -CONFIG.hole_depth_m
        assert np.allclose(lengths * CONFIG.resolution_x_m, CONFIG.level(level).gap_width_m)
    assert CONFIG.level(NUM_LEVELS - 1).gap_width_m == pytest.approx(0.4)


# --- placement and lookup --------------------------------------------------------------------------------------

def test_spawn_point_is_on_its_tile_and_on_the_surface(grid):
    for column, type_name in enumerate(CONFIG.types):
        for level in (0, 5, NUM_LEVELS - 1):
            spawn = grid.spawn_point(type_name, level)
            type_index, tile_level = grid.tile_of(spawn[None, :2])
            assert (type_index[0], tile_level[0]) == (column, level)
            assert spawn[1] == pytest.approx((column + 0.5) * CONFIG.tile_size_m)  # centre line
            assert spawn[0] - level * CONFIG.tile_size_m < CONFIG.start_pad_m  # on the start pad
            assert spawn[2] == grid.height_at(spawn[None, :2])[0] == 0.0


def test_points_past_the_grid_belong_to_the_nearest_tile_and_read_the_border(grid):
    far = np.array([[-3.0, -3.0], [NUM_LEVELS * CONFIG.tile_size_m + 2.0, 1e3]])
    type_index, level = grid.tile_of(far)
    assert type_index.tolist() == [0, len(CONFIG.types) - 1] and level.tolist() == [0, NUM_LEVELS - 1]
    assert grid.height_at(far).tolist() == [0.0, 0.0]


def terrain_model(grid, spheres=(), radius=0.02):
    """A scene of the grid alone, plus spheres free to move only vertically (so they cannot roll off slopes)."""
    spec = mujoco.MjSpec()
    spec.option.timestep = 0.002
    grid.add_to(spec)
    for x, y, z in spheres:
        body = spec.worldbody.add_body(pos=[x, y, 0.0])
        body.add_joint(type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1], ref=0.0)
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[radius, 0, 0], contype=1, conaffinity=0)
    model = spec.compile()
    data = mujoco.MjData(model)
    data.qpos[:] = [z for _, _, z in spheres]
    return model, data


def resting_height(grid, xy, radius):
    """(centre heights, contact tilts in rad) of vertical-only spheres resting on the surface that height_at
    describes: the highest point of the ground under each disc, lifted by the sphere's profile there."""
    offsets = np.linspace(-radius, radius, 41)
    ox, oy = np.meshgrid(offsets, offsets)
    inside = ox**2 + oy**2 <= radius**2
    ox, oy = ox[inside], oy[inside]
    lift = np.sqrt(radius**2 - ox**2 - oy**2)
    heights, tilts = [], []
    for x, y in xy:
        centre = grid.height_at(np.stack([x + ox, y + oy], axis=1)) + lift
        support = np.argmax(centre)
        heights.append(centre[support])
        tilts.append(np.arcsin(np.hypot(ox[support], oy[support]) / radius))
    return np.array(heights), np.array(tilts)


def test_spheres_dropped_in_mujoco_rest_at_height_at(grid):
    rng = np.random.default_rng(0)
    radius, xy = 0.02, []
    for column in range(len(CONFIG.types)):
        for level in (0, 4, NUM_LEVELS - 1):
            x = level * CONFIG.tile_size_m + rng.uniform(0, CONFIG.tile_size_m, 12)
            y = (column + 0.5) * CONFIG.tile_size_m + rng.uniform(-1.0, 1.0, 12)
            xy.append(np.stack([x, y], axis=1))
    xy = np.concatenate(xy)
    expected, tilt = resting_height(grid, xy, radius)
    # Friction (mu = 1) holds a sphere only where the contact normal is well inside its cone; against the
    # near-vertical walls of holes and risers a vertical-only sphere slides down, as it should.
    held = tilt < np.radians(30)
    xy, expected = xy[held], expected[held]
    model, data = terrain_model(grid, [(x, y, z + 0.05) for (x, y), z in zip(xy, expected)], radius)
    mujoco.mj_step(model, data, nstep=300)
    assert np.abs(data.qvel).max() < 1e-3  # at rest
    stones_or_gaps = np.isin(grid.tile_of(xy)[0], [CONFIG.types.index("stepping_stones"), CONFIG.types.index("gaps")])
    in_hole = stones_or_gaps & (expected < -CONFIG.hole_depth_m / 2)
    assert held.sum() > 200 and in_hole.sum() >= 5  # some fell into holes, and all the way down
    error = data.qpos - expected
    assert np.abs(error).max() < 0.001, (xy[np.argmax(np.abs(error))], error.min(), error.max())


def test_mujoco_ray_casts_hit_height_at_everywhere(grid):
    model, data = terrain_model(grid)
    mujoco.mj_forward(model, data)
    rng = np.random.default_rng(1)
    size = np.array([NUM_LEVELS, len(CONFIG.types)]) * CONFIG.tile_size_m + 2 * CONFIG.border_m
    xy = rng.uniform(0, 1, (2000, 2)) * size - CONFIG.border_m
    hit = np.zeros(1, np.int32)
    top = 5.0
    ray = [top - mujoco.mj_ray(model, data, np.array([x, y, top]), np.array([0, 0, -1.0]), None, 1, -1, hit)
           for x, y in xy]
    assert np.allclose(ray, grid.height_at(xy), atol=1e-5)


def test_terrain_replaces_the_floor_and_a_humanoid_stands_on_it(grid):
    spec = mujoco.MjSpec.from_file(str(resolve_model_path("humanoid/scene.xml")))
    floor = spec.geom("floor")
    friction, material = floor.friction.copy(), floor.material
    grid.add_to(spec)
    model = spec.compile()
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor") == -1
    terrain = model.geom("terrain")
    assert np.allclose(terrain.friction, friction)
    assert model.material(terrain.matid[0]).name == material
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("nominal").id)
    spawn = grid.spawn_point("stairs_up", 3)
    data.qpos[:3] += spawn
    mujoco.mj_step(model, data, nstep=200)
    assert data.qpos[2] - spawn[2] == pytest.approx(model.key("nominal").qpos[2], abs=0.02)


# --- curriculum ------------------------------------------------------------------------------------------------

def test_curriculum_starts_within_the_initial_levels():
    curriculum = TerrainCurriculum(1000, max_initial_level=3, seed=0)
    assert set(np.unique(curriculum.levels)) == {0, 1, 2, 3}


def test_curriculum_promotes_demotes_and_holds():
    curriculum = TerrainCurriculum(3, max_initial_level=0, seed=0)
    curriculum.levels[:] = 5
    # walked 4.5 m of an 8 m tile: up; 1 m of 10 m commanded: down; 3 m of 5 m commanded: stays
    levels = curriculum.update(np.array([0, 1, 2]), np.array([4.5, 1.0, 3.0]), np.array([10.0, 10.0, 5.0]))
    assert levels.tolist() == [6, 4, 5]
    assert curriculum.levels.tolist() == [6, 4, 5]


def test_curriculum_clamps_at_zero_and_scatters_robots_that_solve_the_top():
    curriculum = TerrainCurriculum(2000, seed=0)
    curriculum.levels[:1000] = 0
    curriculum.levels[1000:] = NUM_LEVELS - 1
    levels = curriculum.update(np.arange(2000), np.r_[np.zeros(1000), np.full(1000, 6.0)], 10.0)
    assert (levels[:1000] == 0).all()
    assert set(np.unique(levels[1000:])) == set(range(NUM_LEVELS))  # a random level, not a clamp at the top


def test_curriculum_is_seeded_and_summarized():
    runs_of = [TerrainCurriculum(50, seed=7) for _ in range(2)]
    for curriculum in runs_of:
        curriculum.levels[:] = NUM_LEVELS - 1
        curriculum.update(np.arange(50), np.full(50, 5.0), np.full(50, 5.0))
    assert np.array_equal(runs_of[0].levels, runs_of[1].levels)
    summary = runs_of[0].summary()
    assert summary["mean_level"] == pytest.approx(runs_of[0].levels.mean())
    assert sum(summary[f"robots_level_{i}"] for i in range(NUM_LEVELS)) == 50


@pytest.mark.parametrize("kwargs, field", [
    ({"num_robots": 0}, "num_robots"), ({"num_robots": 4, "max_initial_level": 10}, "max_initial_level"),
    ({"num_robots": 4, "tile_size_m": 0.0}, "tile_size_m"),
])
def test_curriculum_settings_are_validated(kwargs, field):
    with pytest.raises(ValueError, match=rf"TerrainCurriculum\.{field}="):
        TerrainCurriculum(**kwargs)


def test_promotion_distance_is_half_the_tile():
    curriculum = TerrainCurriculum(2, max_initial_level=0, tile_size_m=4.0)
    assert curriculum.update([0, 1], [2.1, 1.9], [0.0, 0.0]).tolist() == [1, 0]
