"""The humanoid on a terrain grid: spawn tiles, heights above the ground under it, and the level curriculum."""

import mujoco
import numpy as np
import pytest

from envs.humanoid.env import HumanoidLocomotionEnv, HumanoidLocomotionVecEnv
from envs.terrain import NUM_LEVELS, TERRAIN_TYPES

STILL = {"reset_joint_noise_rad": 0.0}
TOP = NUM_LEVELS - 1


def hold_nominal_pose(env, steps):
    """Step with zero actions (the nominal pose); the last step's (obs, terminated, infos)."""
    for _ in range(steps):
        obs, _, terminated, _, infos = env.advance(np.zeros((env.num_envs, 32), dtype=np.float32))
    return obs, terminated, infos


def test_each_robot_spawns_standing_on_its_own_types_tile_at_its_level():
    env = HumanoidLocomotionVecEnv(num_envs=8, terrain={}, terrain_level=TOP, terrain_curriculum=False, **STILL)
    obs, _ = env.reset(seed=0)
    assert env.course.grid.config.types == TERRAIN_TYPES  # one robot per type, round-robin
    types, levels = env.course.grid.tile_of(env._readout.qpos[:, :2])
    assert types.tolist() == list(range(8)) and (levels == TOP).all()
    nominal = env.robots.nominal_base_height_m
    np.testing.assert_allclose(obs["privileged"][:, 3], nominal, atol=1e-6)  # base height above the ground
    obs, terminated, _ = hold_nominal_pose(env, 50)
    assert not terminated.any()
    np.testing.assert_allclose(obs["privileged"][:, 3], nominal, atol=0.02)
    env.close()


def test_the_terrain_replaces_the_floor_plane_and_without_one_the_floor_stays():
    flat = HumanoidLocomotionVecEnv(num_envs=1)
    assert flat.course is None and flat.robots.model.geom("floor").type == mujoco.mjtGeom.mjGEOM_PLANE
    rough = HumanoidLocomotionVecEnv(num_envs=1, terrain={"types": ["rough"]})
    names = {rough.robots.model.geom(g).name for g in range(rough.robots.model.ngeom)}
    assert "terrain" in names and "floor" not in names


def move_to_plateau(env, i):
    """Put robot i in its nominal pose in the middle of its tile's plateau; returns the plateau's height."""
    data, grid = env.robots.datas[i], env.course.grid
    x = (env.course.level(i) + 0.5) * grid.config.tile_size_m
    y = env._readout.qpos[i, 1]
    ground = float(grid.height_at(np.array([[x, y]]))[0])
    data.qpos[:3] = [x, y, ground + env.robots.nominal_base_height_m]
    return ground


def test_standing_on_a_top_level_stairs_plateau_measures_heights_above_that_ground_and_does_not_fall():
    terrain = {"types": ["stairs_up", "stairs_down"]}
    env = HumanoidLocomotionVecEnv(num_envs=2, terrain=terrain, terrain_level=TOP, terrain_curriculum=False, **STILL)
    env.reset(seed=0)
    up, down = move_to_plateau(env, 0), move_to_plateau(env, 1)
    assert up > 1.0 and down < -1.0  # eight 0.17 m steps
    obs, terminated, _ = hold_nominal_pose(env, 50)
    readout = env._readout
    # On the low plateau the base is below half its nominal height in world z: only the height above the
    # ground under it keeps base_too_low from ending the episode.
    assert readout.qpos[1, 2] < 0.5 * env.robots.nominal_base_height_m
    assert not terminated.any()
    np.testing.assert_allclose(obs["privileged"][:, 3], env.robots.nominal_base_height_m, atol=0.02)
    np.testing.assert_allclose(readout.foot_height_m, 0.0, atol=0.01)  # soles on the plateau, not 1.36 m up or down


def test_the_level_curriculum_promotes_a_robot_that_walked_half_its_tile_and_demotes_one_that_stood():
    env = HumanoidLocomotionVecEnv(
        num_envs=2, task="walk", target_velocity_mps=1.0, episode_length_s=0.5, terrain={"types": ["flat"]}, **STILL
    )
    env.course.curriculum.levels[:] = 5
    env.reset(seed=0)
    env.robots.datas[0].qpos[0] += 5.0  # past half the 8 m tile; the other robot stays, short of 0.25 m commanded
    _, _, infos = hold_nominal_pose(env, 25)
    summaries = [info["episode"] for info in infos]
    assert [s["terrain"] for s in summaries] == [{"type": "flat", "level": 5}] * 2
    assert summaries[0]["distance_walked_m"] == pytest.approx(5.0, abs=0.1)
    hold_nominal_pose(env, 1)  # the autoreset: both start again on their new levels
    _, levels = env.course.grid.tile_of(env._readout.qpos[:, :2])
    assert levels.tolist() == [6, 4]


def test_a_standing_robot_keeps_its_level_and_a_fixed_level_overrides_the_curriculum():
    env = HumanoidLocomotionEnv(task="stand", episode_length_s=0.2, terrain={"types": ["slope_up"]}, terrain_level=3,
                                terrain_curriculum=False, **STILL)
    env.reset(seed=0)
    assert env.vector.course.level(0) == 3
    info = {}
    for _ in range(10):
        *_, info = env.step(np.zeros(32, dtype=np.float32))
    assert info["episode"]["terrain"] == {"type": "slope_up", "level": 3}
    env.apply_settings({"terrain_level": 7})
    env.reset()
    assert env.vector.course.level(0) == 7


def test_terrain_settings_are_validated_and_the_grid_is_fixed_at_construction():
    with pytest.raises(ValueError, match="terrain_level"):
        HumanoidLocomotionEnv(terrain={}, terrain_level=NUM_LEVELS)
    with pytest.raises(ValueError, match="TerrainConfig.types"):
        HumanoidLocomotionEnv(terrain={"types": ["lava"]})
    env = HumanoidLocomotionEnv()
    with pytest.raises(ValueError, match="terrain"):
        env.apply_settings({"terrain": {}})
