"""The quadruped environment on real MuJoCo physics: spaces, standing, terminations, terrain spawning."""

import mujoco
import numpy as np
from gymnasium.utils.env_checker import check_env

from envs.quadruped.env import QuadrupedEnv, QuadrupedVecEnv
from envs.terrain import NUM_LEVELS

STILL = {"command_vx_mps": (0.0, 0.0), "command_vy_mps": (0.0, 0.0), "command_yaw_rps": (0.0, 0.0)}


def _hold(env: QuadrupedVecEnv) -> np.ndarray:
    """PD targets at the standing pose for every robot (the centre of nominal_offset scaling)."""
    return np.zeros((env.num_envs, env.embodiment.action_dim))


def test_env_passes_gymnasiums_checker_and_says_its_command_in_words():
    env = QuadrupedEnv(command_vx_mps=(0.5, 0.5), command_vy_mps=(0.0, 0.0), command_yaw_rps=(0.0, 0.0))
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert info["instruction"].startswith("walk at 0.5 m/s forward")
    np.testing.assert_allclose(obs["command"], [0.5, 0.0, 0.0])
    env.close()


def test_holding_the_standing_pose_stands_tracks_a_zero_command_and_touches_down_on_four_feet():
    env = QuadrupedVecEnv(num_envs=2, reset_joint_noise_rad=0.0, **STILL)
    env.reset(seed=0)
    for _ in range(200):  # 2 s at 100 Hz
        _, reward, terminated, truncated, _ = env.advance(_hold(env))
        assert not terminated.any()
    s = env._state
    assert (np.abs(s.base_height_m - 0.5) < 0.05).all()
    assert s.foot_contact.all()
    assert (reward > 0).all()
    assert env.success(s).all()  # zero command, zero velocity: tracking error ~0
    env.close()


def test_a_robot_on_its_back_terminates_with_the_cause_named():
    env = QuadrupedVecEnv(num_envs=1, **STILL)
    env.reset(seed=0)
    model, data = env.sim.models[0], env.sim.datas[0]
    data.qpos[3:7] = [0.0, 1.0, 0.0, 0.0]  # half a turn about x: upside down
    mujoco.mj_forward(model, data)
    _, _, terminated, _, infos = env.advance(_hold(env))
    assert terminated[0]
    assert infos[0]["episode"]["termination"] in ("body_contact", "excessive_tilt", "base_too_low")
    assert infos[0]["episode"]["fell"] and not infos[0]["episode"]["success"]
    env.close()


def test_on_a_terrain_grid_each_robot_starts_on_its_own_types_tile_at_its_level():
    env = QuadrupedVecEnv(num_envs=8, terrain={}, terrain_level=NUM_LEVELS - 1, terrain_curriculum=False, **STILL)
    env.reset(seed=0)
    terrain = env.terrain
    position = env._state.base.position
    types, levels = terrain.tile_of(position[:, :2])
    assert types.tolist() == list(range(8))
    assert (levels == NUM_LEVELS - 1).all()
    np.testing.assert_allclose(env._state.base_height_m, 0.51, atol=0.03)
    env.close()
