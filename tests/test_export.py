"""Exported policies (TorchScript, ONNX) act exactly like the local Policy, with the instruction baked in."""

import json

import numpy as np
import onnxruntime
import pytest
import torch
from ray.rllib.core.columns import Columns

import envs
from envs.humanoid.env import HumanoidLocomotionVecEnv
from vla_ray.checkpoints import POLICY_CARD, PolicyCard, save_policy_checkpoint
from vla_ray.embodiment import get_embodiment
from vla_ray.export import FixedAdaptiveAvgPool2d, export_policy, main
from vla_ray.language import decode_instruction, encode_instruction
from vla_ray.models import VLAPPOModule
from vla_ray.policy import Policy

# Loading TorchScript is the point here; torch 2.13 deprecates torch.jit in favour of torch.export.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

WALK = {"task": "walk", "target_velocity_mps": 0.5}
ATOL = 1e-5


def rollout(env, steps=4, seed=0):
    """Observations of every robot after a few steps of random actions."""
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-0.3, 0.3, (env.num_envs, env.single_action_space.shape[0])).astype(np.float32))
    return obs


def trained_policy(env, env_config, **model_config):
    """A policy whose normalization statistics and action head are far from their initial values."""
    module = VLAPPOModule(
        observation_space=env.single_observation_space, action_space=env.single_action_space,
        inference_only=False, model_config=model_config,
    )
    for seed in range(3):
        module.forward_train({Columns.OBS: {k: torch.from_numpy(v) for k, v in rollout(env, seed=seed).items()}})
    with torch.no_grad():
        # Large enough that some actions saturate, so the exported clip is exercised too.
        module.head.mean.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(0))
    card = PolicyCard(envs.HUMANOID_LOCOMOTION_ID, env_config, model_config, "humanoid", "walk_0.5", 7, 1000)
    return Policy(module, card)


def exported_actions(exported, obs):
    """Actions from the TorchScript and the ONNX file, fed the inputs the interface file lists."""
    interface = json.loads(exported.interface.read_text())
    names = [part["name"] for part in interface["inputs"]]
    scripted = torch.jit.load(str(exported.torchscript))
    from_torchscript = scripted(*[torch.from_numpy(obs[n]) for n in names]).numpy()  # no grad to detach from
    session = onnxruntime.InferenceSession(str(exported.onnx), providers=["CPUExecutionProvider"])
    from_onnx = session.run([interface["output"]["name"]], {n: obs[n] for n in names})[0]
    return from_torchscript, from_onnx


@pytest.fixture(scope="module")
def walk_env():
    env = HumanoidLocomotionVecEnv(num_envs=6, **WALK)
    yield env
    env.close()


@pytest.fixture(scope="module")
def walk_policy(walk_env):
    return trained_policy(walk_env, WALK)


@pytest.fixture(scope="module")
def walk_export(walk_policy, tmp_path_factory):
    return export_policy(walk_policy, tmp_path_factory.mktemp("walk"))


def test_exported_policy_acts_like_the_local_policy_with_the_tasks_instruction(walk_env, walk_policy, walk_export):
    obs = rollout(walk_env, steps=6, seed=11)
    expected = walk_policy.act(obs, deterministic=True)
    assert np.any(np.abs(expected) == 1.0) and np.any(np.abs(expected) < 0.9)  # clipped and unclipped actions
    for actions in exported_actions(walk_export, obs):
        assert actions.shape == (6, 32)
        np.testing.assert_allclose(actions, expected, atol=ATOL, rtol=0)
    # Batch size is free: one robot gives the same answer as within the batch.
    single = {name: part[:1] for name, part in obs.items()}
    for actions in exported_actions(walk_export, single):
        np.testing.assert_allclose(actions, expected[:1], atol=ATOL, rtol=0)


def test_an_explicit_instruction_replaces_the_tasks(walk_env, walk_policy, tmp_path):
    exported = export_policy(walk_policy, tmp_path, instruction="stand still")
    obs = rollout(walk_env, seed=5)
    obs["instruction"] = np.stack([encode_instruction("stand still")] * walk_env.num_envs)
    expected = walk_policy.act(obs, deterministic=True)
    for actions in exported_actions(exported, obs):
        np.testing.assert_allclose(actions, expected, atol=ATOL, rtol=0)
    walk_obs = rollout(walk_env, seed=5)
    assert not np.allclose(walk_policy.act(walk_obs), expected, atol=1e-4)  # the instruction mattered


def test_interface_lists_policy_inputs_with_units_and_the_robot(walk_env, walk_export):
    interface = json.loads(walk_export.interface.read_text())
    inputs = {part["name"]: part for part in interface["inputs"]}
    assert list(inputs) == ["joint_pos", "joint_vel", "imu", "contacts", "force_torque", "command", "prev_action"]
    assert inputs["joint_vel"] == {**inputs["joint_vel"], "shape": [32], "dtype": "float32", "unit": "rad/s"}
    assert interface["output"]["shape"] == [32]
    assert interface["instruction"] == decode_instruction(walk_env.reset(seed=0)[0]["instruction"][0])
    humanoid = get_embodiment("humanoid")
    joints = interface["embodiment"]["joints"]
    assert [j["name"] for j in joints] == list(humanoid.joint_names)
    assert [j["lower"] for j in joints] == humanoid.joint_lower.tolist()
    assert interface["control_frequency_hz"] == humanoid.control_frequency_hz
    assert "vla_ray.control" in interface["robot_side"]
    session = onnxruntime.InferenceSession(str(walk_export.onnx), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(inputs)
    assert all(isinstance(i.shape[0], str) for i in session.get_inputs())  # a symbolic batch axis


def test_history_camera_and_action_scale_of_the_training_env_are_exported(tmp_path):
    settings = {**WALK, "history_length": 4, "camera": "track", "camera_size": [24, 24], "action_scale": 0.3}
    env = HumanoidLocomotionVecEnv(num_envs=3, **settings)
    try:
        policy = trained_policy(env, settings)
        exported = export_policy(policy, tmp_path)
        interface = json.loads(exported.interface.read_text())
        inputs = {part["name"]: part for part in interface["inputs"]}
        assert list(inputs)[-2:] == ["proprio_history", "camera_rgb"]
        assert inputs["proprio_history"]["shape"] == [4, 2 * 32 + 9]
        assert interface["embodiment"]["action_scaling"]["scale"] == 0.3  # the robot scales as training did
        assert inputs["camera_rgb"]["shape"] == [24, 24, 3] and inputs["camera_rgb"]["dtype"] == "uint8"
        session = onnxruntime.InferenceSession(str(exported.onnx), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[-1].type == "tensor(uint8)"
        obs = rollout(env, seed=3)
        assert obs["camera_rgb"].dtype == np.uint8 and obs["camera_rgb"].any()
        expected = policy.act(obs, deterministic=True)
        for actions in exported_actions(exported, obs):
            np.testing.assert_allclose(actions, expected, atol=ATOL, rtol=0)
    finally:
        env.close()



@pytest.mark.parametrize("size", [1, 4, 6, 7, 10])
def test_fixed_adaptive_pool_averages_like_torchs(size):
    image = torch.randn(3, 5, size, size + 3)
    fixed = FixedAdaptiveAvgPool2d((size, size + 3), (4, 4))
    torch.testing.assert_close(fixed(image), torch.nn.AdaptiveAvgPool2d(4)(image), atol=1e-6, rtol=1e-6)


def test_cli_exports_a_run_directorys_latest_checkpoint(walk_env, walk_policy, tmp_path, capsys):
    save_policy_checkpoint(walk_policy.module, tmp_path / "run", "iter7", walk_policy.card)
    loaded = Policy.from_checkpoint(tmp_path / "run")
    obs = rollout(walk_env, seed=2)
    np.testing.assert_allclose(loaded.act(obs), walk_policy.act(obs), atol=1e-6, rtol=0)

    main(["--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "out" / f) for f in ("policy.pt", "policy.onnx", "policy_interface.json")]
    interface = json.loads((tmp_path / "out" / "policy_interface.json").read_text())
    assert interface["instruction"] == "walk forward at 0.5 m/s"
    assert interface["source"]["training_iteration"] == 7
    exported = export_policy(loaded, tmp_path / "again")  # same files as the CLI wrote, to compare outputs
    for actions in exported_actions(exported, obs):
        np.testing.assert_allclose(actions, walk_policy.act(obs), atol=ATOL, rtol=0)


def test_cli_refuses_a_checkpoint_without_the_module(walk_policy, tmp_path):
    checkpoint = tmp_path / "card_only"
    checkpoint.mkdir()
    (checkpoint / POLICY_CARD).write_text(walk_policy.card.to_json())
    with pytest.raises(FileNotFoundError, match="no policy module at .*default_policy"):
        main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_an_instruction_longer_than_an_observation_carries_is_refused(walk_policy, tmp_path):
    with pytest.raises(ValueError, match="instruction is 120 UTF-8 bytes: expected at most 96"):
        export_policy(walk_policy, tmp_path, instruction="walk " * 24)
    assert list(tmp_path.iterdir()) == []


def test_a_policy_without_language_exports_without_an_instruction(walk_env, tmp_path):
    policy = trained_policy(walk_env, WALK, use_instruction=False)
    with pytest.raises(ValueError, match="reads no instruction"):
        export_policy(policy, tmp_path, instruction="stand still")
    exported = export_policy(policy, tmp_path)
    assert json.loads(exported.interface.read_text())["instruction"] is None
    obs = rollout(walk_env, seed=4)
    for actions in exported_actions(exported, obs):
        np.testing.assert_allclose(actions, policy.act(obs), atol=ATOL, rtol=0)
