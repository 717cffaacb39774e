"""Cross-embodiment training: the abstract end-effector action on every single arm, and one policy shared by
arms through per-arm adapters on RLlib's multi-agent machinery (real MuJoCo, real Ray, real PPO updates)."""

import mujoco
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.multi_arm import MultiArmEnv
from envs.simulation import compile_scene, joint_commander
from vla_ray.control.end_effector import MAX_LINEAR_SPEED_MPS, EndEffectorScaler
from vla_ray.embodiment import get_embodiment
from vla_ray.multi_arm import (
    MultiArmSetup, arm_returns, build_multi_arm_config, evaluate_arm, robot_return, robot_steps,
)
from vla_ray.training import PPOTrainingConfig

ARMS = ("franka_panda", "xarm6", "ur5e")
RATE_HZ = 20.0


def arm_env(arm: str, robots: int = 1) -> ManipulationVecEnv:
    return ManipulationVecEnv(num_envs=robots, embodiment=arm, task="reach", action_type="end_effector",
                              control_frequency_hz=RATE_HZ)


# -- the end-effector action ---------------------------------------------------------------------------------

def test_end_effector_embodiment_has_the_abstract_action_and_joint_commands():
    franka = get_embodiment("franka_panda").with_action_type("end_effector")
    assert (franka.action_dim, franka.command_dim) == (7, 8)
    with pytest.raises(ValueError, match="single arm"):
        get_embodiment("aloha").with_action_type("end_effector")
    with pytest.raises(ValueError, match="action_dim=8: expected 6 pose-delta channels"):
        get_embodiment("franka_panda").with_overrides(action_type="end_effector", action_dim=8)


@pytest.mark.parametrize("arm", ARMS)
def test_ik_conversion_moves_the_grasp_site_where_the_action_says(arm):
    """Kinematics only: the joint targets for a pose delta put the model's grasp site at the asked pose (within the
    IK's 1 mm), when the move is within the safety filter's joint-step bound."""
    embodiment = get_embodiment(arm).with_action_type("end_effector").with_overrides(control_frequency_hz=RATE_HZ)
    model = compile_scene(embodiment.model_path)
    scaler = EndEffectorScaler(embodiment, model)
    joints = embodiment.nominal_pose
    action = np.array([0.3, -0.2, 0.25, 0.0, 0.0, 0.2, 1.0])
    position, quat = scaler.target_pose(action, joints)
    start, _ = scaler.grasp_pose(joints)
    np.testing.assert_allclose(position - start, action[:3] * MAX_LINEAR_SPEED_MPS / RATE_HZ)
    targets = scaler.to_targets(action[None], np.concatenate([joints, [1.0]])[None])[0]
    # The targets hold the arm's gravity sag; without it they are the IK's joint positions.
    solved = targets[:-1] - scaler.gravity_offset(joints)
    reached, reached_quat = scaler.grasp_pose(solved)
    np.testing.assert_allclose(reached, position, atol=1.5e-3)
    turn = np.empty(3)
    difference = np.empty(4)
    inverse = np.empty(4)
    mujoco.mju_negQuat(inverse, reached_quat)
    mujoco.mju_mulQuat(difference, quat, inverse)
    mujoco.mju_quat2Vel(turn, difference, 1.0)
    assert np.linalg.norm(turn) < 0.015
    assert targets[-1] == 1.0
    assert np.isnan(scaler.to_targets(np.full((1, 7), np.nan), np.concatenate([joints, [1.0]])[None])).all()


@pytest.mark.parametrize("arm", ARMS)
def test_same_action_moves_every_arm_alike_and_no_action_holds_still(arm):
    env = arm_env(arm)
    try:
        obs, _ = env.reset(seed=3)
        start = obs["ee_pos"][0].copy()
        for _ in range(10):  # half a second of "hold"
            obs, *_ = env.advance(np.array([[0, 0, 0, 0, 0, 0, 1.0]]))
        assert np.linalg.norm(obs["ee_pos"][0] - start) < 2e-3  # the gravity offset keeps the PD from sagging
        for direction in np.eye(3):
            start = obs["ee_pos"][0].copy()
            for _ in range(4):
                obs, *_ = env.advance(np.array([[*(0.5 * direction), 0, 0, 0, 1.0]]))
            moved = obs["ee_pos"][0] - start
            along = moved @ direction
            assert along > 0.05  # at least 5 cm of the 10 cm asked in 0.2 s at 0.5 m/s
            assert np.linalg.norm(moved - along * direction) < 0.35 * along  # and mostly in that direction
    finally:
        env.close()


@pytest.mark.parametrize("arm", ARMS)
def test_one_controller_in_the_abstract_action_reaches_on_every_arm(arm):
    """A proportional controller written once in hand coordinates, never told which arm it drives, reaches the
    2 cm target on all three arms: the action means the same on each (what cross-embodiment training relies on)."""
    env = arm_env(arm, robots=8)
    try:
        obs, _ = env.reset(seed=11)
        action = np.zeros((8, 7))
        action[:, 6] = 1.0
        infos = [{}]
        while not infos[0]:
            action[:, :3] = np.clip(5.0 * (obs["goal_pos"] - obs["ee_pos"]), -1.0, 1.0)
            obs, _, _, _, infos = env.advance(action)
        assert all(info["episode"]["success"] for info in infos)
        assert max(info["episode"]["completion_time_s"] for info in infos) < 2.0
    finally:
        env.close()


def test_server_and_environment_convert_an_end_effector_action_identically():
    env = arm_env("xarm6")
    try:
        env.reset(seed=1)
        current = env.sim.positions()
        action = np.array([[0.4, 0.1, -0.3, 0.2, 0.0, -0.1, -1.0]])
        served = joint_commander(env.embodiment)(action, current)  # what serve/runtime.py builds
        np.testing.assert_array_equal(served.targets, env.commander(action, current).targets)
    finally:
        env.close()


# -- the multi-arm environment and the shared policy ----------------------------------------------------------

def test_multi_arm_env_names_one_agent_per_robot_and_ends_episodes_together():
    env = MultiArmEnv({"embodiments": ["franka_panda", "xarm6"], "robots_per_embodiment": 2, "task": "reach",
                       "episode_length_s": 0.5})
    obs, infos = env.reset(seed=0)
    assert sorted(obs) == ["franka_panda/0", "franka_panda/1", "xarm6/0", "xarm6/1"]
    assert obs["franka_panda/0"]["joint_pos"].shape == (7,) and obs["xarm6/0"]["joint_pos"].shape == (6,)
    assert {space.shape for space in env.action_spaces.values()} == {(7,)}
    episode = MultiAgentEpisode(observation_space=env.observation_spaces, action_space=env.action_spaces)
    episode.add_env_reset(observations=obs, infos=infos)
    for step in range(10):
        actions = {a: env.action_spaces[a].sample() for a in obs}
        obs, rewards, terminated, truncated, infos = env.step(actions)
        episode.add_env_step(obs, actions, rewards, infos, terminateds=terminated, truncateds=truncated)
    assert truncated["__all__"] and not terminated["__all__"]
    assert set(infos) == set(env.agents) and all("episode" in info for info in infos.values())
    # As RLlib records it: every robot was cut off by the time limit, none terminated, so PPO bootstraps the value
    # of each robot's last state (RLlib calls an episode whose agents all have own done flags terminated).
    assert episode.is_truncated and not episode.is_terminated
    assert all(sa.is_truncated and not sa.is_terminated for sa in episode.agent_episodes.values())
    with pytest.raises(ValueError, match="not a single arm"):
        MultiArmEnv({"embodiments": ["spot"]})


SETUP = MultiArmSetup(arms=("franka_panda", "xarm6"), env_config={"task": "reach", "episode_length_s": 1.0},
                      robots_per_arm=4)
TRAINING = PPOTrainingConfig(num_env_runners=0, num_envs_per_env_runner=SETUP.robots, rollout_fragment_length=20,
                             minibatch_size=80, num_epochs=2, seed=0)


@pytest.fixture(scope="module")
def algorithm(ray_session):
    algo = build_multi_arm_config(SETUP, TRAINING).build_algo()
    yield algo
    algo.stop()


def learner_modules(algo):
    return algo.learner_group._learner.module


def test_arms_share_one_policy_and_keep_their_own_adapters(algorithm):
    modules = learner_modules(algorithm)
    franka, xarm = modules["franka_panda"], modules["xarm6"]
    assert franka.shared is xarm.shared
    assert franka.adapter.net[0].in_features == 14 and xarm.adapter.net[0].in_features == 12
    learner = algorithm.learner_group._learner
    owners = {}
    for name, optimizer in learner._named_optimizers.items():
        for param in learner._optimizer_parameters[optimizer]:
            assert id(param) not in owners, "a shared parameter in two optimizers would get two Adam steps"
            owners[id(param)] = name
    assert all(id(p) in owners for p in franka.shared.parameters())
    assert all(owners[id(p)].startswith("xarm6") for p in xarm.adapter.parameters())


def test_a_ppo_update_routes_each_arms_batch_to_its_adapter_and_trains_the_shared_policy(algorithm):
    modules = learner_modules(algorithm)
    before = {name: [p.detach().clone() for p in module.adapter.parameters()] for name, module in modules.items()}
    shared_before = [p.detach().clone() for p in modules["franka_panda"].shared.parameters()]
    update_rows = {name: [] for name in modules.keys()}
    for name, module in modules.items():
        def recording(batch, _forward=module._forward_train, _rows=update_rows[name], **kwargs):
            _rows.append(len(batch[Columns.OBS]["joint_pos"]))
            return _forward(batch, **kwargs)
        module._forward_train = recording
    try:
        result = algorithm.train()
    finally:
        for module in modules.values():
            del module._forward_train
    learners = result["learners"]
    assert {"franka_panda", "xarm6"} <= set(learners)  # a loss for each arm's module
    for name, module in modules.items():
        changed = [not torch.equal(a, b) for a, b in zip(before[name], module.adapter.parameters())]
        assert all(changed), f"{name}'s adapter did not get its batch"
    assert any(not torch.equal(a, b) for a, b in zip(shared_before, modules["franka_panda"].shared.parameters()))
    assert robot_steps(result, SETUP) >= TRAINING.train_batch_size  # each arm's robots sampled for the batch
    # The episodes (1 s, 20 steps) ended in this batch: each arm's return per robot, and their mean is the overall.
    per_arm = arm_returns(result, SETUP)
    assert all(np.isfinite(v) for v in per_arm.values())
    assert np.mean(list(per_arm.values())) == pytest.approx(robot_return(result, SETUP))
    # num_epochs passes over each arm's rows (its robots' steps, plus one bootstrap step per robot; the cyclic
    # minibatches overshoot by less than one), not the ~1.5x RLlib made when the batch was counted in agent steps.
    rows = SETUP.robots_per_arm * (TRAINING.rollout_fragment_length + 1)
    arm_minibatch = TRAINING.minibatch_size // len(SETUP.arms)
    for arm in SETUP.arms:
        trained = learners[arm]["num_module_steps_trained"]
        assert TRAINING.num_epochs * rows <= trained < TRAINING.num_epochs * rows + arm_minibatch
        # Each update reads the configured minibatch, split between the arms (RLlib cuts it per module in rows).
        assert set(update_rows[arm]) == {arm_minibatch}


def test_adapter_routing_one_arms_batch_leaves_the_other_arms_adapter_without_gradient(algorithm):
    modules = learner_modules(algorithm)
    env = arm_env("xarm6", robots=3)
    try:
        obs, _ = env.reset(seed=0)
    finally:
        env.close()
    batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
    for module in modules.values():
        module.zero_grad()
    modules["xarm6"].forward_train(batch)[Columns.ACTION_DIST_INPUTS].sum().backward()
    assert all(p.grad is None for p in modules["franka_panda"].adapter.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in modules["franka_panda"].shared.parameters())


def test_the_shared_policy_reads_where_the_goal_is_from_the_hand(algorithm):
    shared = learner_modules(algorithm)["xarm6"].shared
    env = arm_env("xarm6", robots=3)
    try:
        obs, _ = env.reset(seed=1)
    finally:
        env.close()
    with_offsets = shared.with_hand_offsets({k: torch.as_tensor(v) for k, v in obs.items()})
    np.testing.assert_allclose(with_offsets["hand_to_goal_pos"].numpy(), obs["goal_pos"] - obs["ee_pos"], atol=1e-6)
    assert "hand_to_goal_pos" in shared.norms  # normalized like the positions it comes from


def test_a_new_arm_starts_from_the_shared_policy_and_is_evaluated(algorithm, tmp_path):
    from vla_ray.models.cross_embodiment import ArmAdapterModule, save_shared_policy

    trained = learner_modules(algorithm)["franka_panda"]
    path = save_shared_policy(trained, tmp_path / "shared.pt")
    env = arm_env("ur5e")
    try:
        spaces = (env.single_observation_space, env.single_action_space)
    finally:
        env.close()
    ur5e = ArmAdapterModule(observation_space=spaces[0], action_space=spaces[1],
                            model_config={"embodiment": "ur5e", "shared_checkpoint": str(path)})
    for a, b in zip(ur5e.shared.state_dict().values(), trained.shared.state_dict().values()):
        torch.testing.assert_close(a, b)
    # A fresh adapter adds nothing: the new arm acts as the shared policy without joint features.
    obs = {k: torch.as_tensor(v[None]) for k, v in spaces[0].sample().items()}
    assert torch.count_nonzero(ur5e.adapter(obs)) == 0
    report = evaluate_arm(ur5e, "ur5e", {"task": "reach", "action_type": "end_effector",
                                         "control_frequency_hz": RATE_HZ, "episode_length_s": 1.0}, episodes=3, seed=5)
    assert report.episodes == 3 and 0.0 <= report.success_rate <= 1.0 and np.isfinite(report.mean_return)
    assert report.final_error_m > 0.0
    with pytest.raises(ValueError, match=r"unknown keys \['shared_checkpont'\]"):
        ArmAdapterModule(observation_space=spaces[0], action_space=spaces[1],
                         model_config={"embodiment": "ur5e", "shared_checkpont": str(path)})


def test_the_vla_module_trains_on_end_effector_actions_and_serves_them_as_the_env_converts(ray_session, tmp_path):
    """train.py passes the environment's action type to the module: a 7-value hand action on the Franka. Its
    checkpoint's runtime (what the Serve endpoint calls) answers with the joint targets the environment's own
    commander gives for the same observation and action."""
    import envs
    from serve.runtime import ActRequest, PolicyRuntime
    from vla_ray.checkpoints import PolicyCard, save_checkpoint
    from vla_ray.training import build_ppo_config

    env_config = {"embodiment": "franka_panda", "task": "reach", "action_type": "end_effector"}
    model_config = {"embodiment": "franka_panda", "action_type": "end_effector", "use_instruction": False}
    training = PPOTrainingConfig(num_env_runners=0, num_envs_per_env_runner=4, rollout_fragment_length=16,
                                 minibatch_size=64, num_epochs=1, seed=0, model_config=model_config)
    algo = build_ppo_config(training, envs.MANIPULATION_ID, env_config).build_algo()
    try:
        assert algo.get_module().head.mean.out_features == 7
        stats = algo.train()["learners"]["default_policy"]
        assert np.isfinite(stats["policy_loss"])
        card = PolicyCard(envs.MANIPULATION_ID, env_config, model_config, "franka_panda", "final", 1, 64)
        checkpoint = save_checkpoint(algo, tmp_path, "ckpt", card)
    finally:
        algo.stop()
    runtime = PolicyRuntime.load("franka", checkpoint)
    env = ManipulationVecEnv(num_envs=1, **env_config)
    try:
        obs, _ = env.reset(seed=2)
        answer = runtime.act([ActRequest({k: v[0] for k, v in obs.items()})])[0]
        expected = env.commander(np.asarray([answer["normalized_action"]]), env.sim.positions()).targets[0]
    finally:
        env.close()
    assert len(answer["normalized_action"]) == 7 and len(answer["action"]) == 8
    np.testing.assert_allclose(answer["action"], expected, atol=1e-9)
    described = runtime.describe()["action"]
    assert described["names"][-1] == "gripper_0" and described["action_type"] == "end_effector"
