"""Action heads: every distribution is valid (log-probs against an independent reference, samples and actions
in bounds, finite entropy), arms and legs own their channels, the CPG head oscillates at the episode clock,
unsuitable heads are refused, and PPO trains a head on a real Ray."""

import math

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

import envs
from envs.manipulation.env import ManipulationVecEnv
from envs.quadruped.env import QuadrupedVecEnv
from vla_ray.checkpoints import PolicyCard
from vla_ray.embodiment import get_embodiment
from vla_ray.export import export_policy
from vla_ray.models import VLAPPOModule
from vla_ray.models.distributions import TorchGaussianMixture
from vla_ray.models.heads import arm_channels
from vla_ray.policy import Policy
from vla_ray.training import PPOTrainingConfig, build_ppo_config

from tests.test_export import exported_actions

ROBOTS = {
    "franka": (ManipulationVecEnv, {"embodiment": "franka_panda", "task": "reach"}),
    "aloha": (ManipulationVecEnv, {"embodiment": "aloha", "task": "transfer_cube"}),
    "spot": (QuadrupedVecEnv, {"observe_gait_clock": True}),
}
HEAD_ROBOTS = [("gaussian", "franka"), ("deterministic", "franka"), ("gmm", "franka"), ("dual_arm", "aloha"),
               ("cpg", "spot")]


def mixture_inputs(batch, k, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, k * (1 + 2 * dim), generator=g)


def reference_mixture(inputs, k, dim):
    """The same mixture built from torch.distributions alone."""
    means = inputs[:, k:k + k * dim].reshape(-1, k, dim)
    stds = inputs[:, k + k * dim:].reshape(-1, k, dim).clamp(-5.0, 2.0).exp()
    return MixtureSameFamily(Categorical(logits=inputs[:, :k]), Independent(Normal(means, stds), 1))


def separated_mixture(weights, means, std=0.05, dim=2):
    """One row: components far apart (mean m on every axis), each with std `std`."""
    k = len(weights)
    row = [math.log(w) for w in weights] + [m for m in means for _ in range(dim)] + [math.log(std)] * (k * dim)
    return torch.tensor([row])


def test_mixture_log_probs_match_torchs_mixture_same_family():
    inputs = mixture_inputs(64, 5, 8)
    dist = TorchGaussianMixture.from_logits(inputs, num_components=5)
    reference = reference_mixture(inputs, 5, 8)
    values = reference.sample((3,))
    torch.testing.assert_close(dist.logp(values), reference.log_prob(values), rtol=1e-5, atol=1e-5)


def test_mixture_samples_follow_the_component_weights_and_stds():
    dist = TorchGaussianMixture.from_logits(separated_mixture([0.6, 0.3, 0.1], [-1.0, 0.0, 1.0]), num_components=3)
    samples = dist.sample(sample_shape=(20000,))[:, 0]
    assert samples.shape == (20000, 2)
    component = torch.round(samples[:, 0]).long() + 1  # the nearest component mean (-1, 0, 1)
    frequencies = torch.bincount(component, minlength=3).float() / len(component)
    torch.testing.assert_close(frequencies, torch.tensor([0.6, 0.3, 0.1]), atol=0.015, rtol=0)
    assert abs(float(samples[component == 1].std()) - 0.05) < 0.005


def test_mixture_entropy_is_an_upper_bound_that_is_exact_for_separated_components():
    separated = TorchGaussianMixture.from_logits(separated_mixture([0.5, 0.5], [-1.0, 1.0]), num_components=2)
    overlapping = TorchGaussianMixture.from_logits(separated_mixture([0.5, 0.5], [-0.01, 0.01], std=0.5), 2)
    for dist, exact in ((separated, True), (overlapping, False)):
        samples = dist.sample(sample_shape=(50000,))
        monte_carlo = -float(dist.logp(samples).mean())
        estimate = float(dist.entropy()[0])
        assert math.isfinite(estimate)
        assert estimate >= monte_carlo - 0.02
        if exact:
            assert abs(estimate - monte_carlo) < 0.02
        else:  # two nearly equal components: the bound overstates by up to log 2
            assert 0.6 < estimate - monte_carlo < math.log(2) + 0.02


def test_mixture_kl_estimate_agrees_with_the_closed_form_for_one_component():
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(1, 1 + 2 * 4, generator=g).expand(4000, -1)
    other_inputs = inputs + 0.3
    dist, other = (TorchGaussianMixture.from_logits(x, num_components=1) for x in (inputs, other_inputs))
    exact = torch.distributions.kl_divergence(
        Normal(inputs[0, 1:5], inputs[0, 5:].exp()), Normal(other_inputs[0, 1:5], other_inputs[0, 5:].exp())
    ).sum()
    assert abs(float(dist.kl(other).mean()) - float(exact)) < 0.03 * float(exact) + 1e-3
    assert abs(float(dist.kl(dist).mean())) < 1e-6


def test_mixture_deterministic_action_is_the_heaviest_components_mean():
    dist = TorchGaussianMixture.from_logits(separated_mixture([0.2, 0.7, 0.1], [-0.5, 0.25, 0.9]), num_components=3)
    torch.testing.assert_close(dist.to_deterministic().sample(), torch.tensor([[0.25, 0.25]]))


ENV_IDS = {ManipulationVecEnv: envs.MANIPULATION_ID, QuadrupedVecEnv: envs.QUADRUPED_ID}


def robot_batch(robot, num_envs=4, steps=3):
    env_class, settings = ROBOTS[robot]
    env = env_class(num_envs=num_envs, **settings)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-0.3, 0.3, env.action_space.shape).astype(np.float32))
    env.close()
    return env, {k: torch.from_numpy(v) for k, v in obs.items()}


def head_module(env, head, **model_config):
    return VLAPPOModule(
        observation_space=env.single_observation_space, action_space=env.single_action_space,
        inference_only=False,
        model_config={"embodiment": env.embodiment.robot_name, "action_head": head, **model_config},
    )


@pytest.mark.parametrize("head,robot", HEAD_ROBOTS)
def test_each_head_gives_a_valid_distribution_actions_in_bounds_and_gradients_to_all_its_parameters(head, robot):
    env, obs = robot_batch(robot)
    module = head_module(env, head)
    out = module.forward_train({Columns.OBS: obs})
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    actions = dist.sample()
    assert actions.shape == (4, env.single_action_space.shape[0])
    logp, entropy = dist.logp(actions), dist.entropy()
    assert torch.isfinite(logp).all() and torch.isfinite(entropy).all()
    (-logp.mean() - entropy.mean()).backward()
    no_gradient = [n for n, p in module.head.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert no_gradient == []
    policy = Policy(module, PolicyCard("x", {}, {"action_head": head}, robot, "", 0, 0))
    for deterministic in (True, False):
        action = policy.act({k: v.numpy() for k, v in obs.items()}, deterministic=deterministic)
        assert action.shape == actions.shape and np.all(np.abs(action) <= 1.0)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("head,robot", [("gmm", "franka"), ("dual_arm", "aloha"), ("cpg", "spot")])
def test_an_exported_head_acts_like_the_local_policy(head, robot, tmp_path):
    env, obs = robot_batch(robot)
    module = head_module(env, head)
    with torch.no_grad():  # away from the near-zero initial actions, so that heads differ visibly
        for p in module.head.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    env_class, settings = ROBOTS[robot]
    card = PolicyCard(ENV_IDS[env_class], settings, {"action_head": head}, robot, "", 0, 0)
    policy = Policy(module, card)
    numpy_obs = {k: v.numpy() for k, v in obs.items()}
    expected = policy.act(numpy_obs, deterministic=True)
    for actions in exported_actions(export_policy(policy, tmp_path), numpy_obs):
        np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0)


def test_deterministic_head_explores_with_a_fixed_std_around_a_tanh_mean():
    env, obs = robot_batch("franka")
    module = head_module(env, "deterministic", init_log_std=-1.5)
    assert "head.log_std" not in dict(module.named_parameters()) and "head.log_std" in module.state_dict()
    inputs = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    mean, log_std = inputs.chunk(2, dim=-1)
    assert torch.all(mean.abs() < 1.0) and torch.all(log_std == -1.5)
    action = torch.zeros_like(mean)
    dist = module.get_train_action_dist_cls().from_logits(inputs)
    torch.testing.assert_close(dist.logp(action), Normal(mean, math.exp(-1.5)).log_prob(action).sum(-1))


def test_dual_arm_head_gives_each_arm_its_own_channels():
    assert arm_channels(get_embodiment("aloha")) == ([0, 1, 2, 3, 4, 5, 12], [6, 7, 8, 9, 10, 11, 13])
    assert arm_channels(get_embodiment("baxter")) == ([*range(7), 14], [*range(7, 14), 15])
    env, obs = robot_batch("aloha")
    module = head_module(env, "dual_arm")
    with torch.no_grad():
        for layer in (module.head.right_arm[-1], module.head.coordination[-1]):
            layer.weight.zero_()
            layer.bias.zero_()
        module.head.left_arm[-1].bias.fill_(0.5)
    mean = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS][:, :14]
    left, right = arm_channels(get_embodiment("aloha"))
    assert torch.all(mean[:, right] == 0) and torch.all(mean[:, left] != 0)


def test_cpg_head_oscillates_with_its_learned_frequency_at_the_episode_clock():
    env, obs = robot_batch("spot")
    module = head_module(env, "cpg")
    with torch.no_grad():
        module.head.frequency_modulation.weight.zero_()  # frequency = exp(log_frequency) for every state
        for leg in module.head.legs:
            leg[-1].weight.mul_(100.0)  # make the (small at init) phase input visible in the mean
    period = 1.0 / float(module.head.log_frequency.detach().exp())

    def mean_at(t):
        clocked = {**obs, "gait_clock": torch.full((4, 1), t)}
        return module.forward_inference({Columns.OBS: clocked})[Columns.ACTION_DIST_INPUTS][:, :12]

    torch.testing.assert_close(mean_at(0.3), mean_at(0.3 + period), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(mean_at(0.3), mean_at(0.3 + period / 2), atol=1e-3)
    # Diagonal legs start in phase (a trot): front-left with hind-right, front-right with hind-left.
    offsets = module.head.phase_offsets.detach()
    assert offsets[0] == offsets[3] and offsets[1] == offsets[2] and offsets[1] - offsets[0] == pytest.approx(math.pi)


@pytest.mark.parametrize("head,robot,message", [
    ("cpg", "franka", "needs a quadruped"),
    ("dual_arm", "spot", "needs a dual-arm robot"),
    ("skills", "franka", "primitive_library"),
    ("mixture", "franka", "expected one of"),
])
def test_a_head_that_does_not_suit_the_robot_is_refused(head, robot, message):
    env, _ = robot_batch(robot, num_envs=1, steps=0)
    with pytest.raises(ValueError, match=message):
        head_module(env, head)


def test_cpg_head_without_the_clock_names_the_environment_setting():
    env = QuadrupedVecEnv(num_envs=1)
    with pytest.raises(ValueError, match="observe_gait_clock=True"):
        head_module(env, "cpg")


def test_a_checkpoint_from_before_selectable_heads_loads_into_the_gaussian_head():
    env, obs = robot_batch("franka")
    module = head_module(env, "gaussian")
    legacy = {k.replace("head.mean.", "action_mean.").replace("head.log_std", "action_log_std"): v.clone() + 0.1
              for k, v in module.state_dict().items()}
    assert "action_mean.weight" in legacy
    module.load_state_dict(legacy)
    torch.testing.assert_close(module.head.mean.weight, legacy["action_mean.weight"])


def one_ppo_iteration(training, env_id, env_config):
    """The module's state before and after one real PPO iteration, and the learner's stats."""
    algo = build_ppo_config(training, env_id, env_config).build_algo()
    try:
        before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
        stats = algo.train()["learners"]["default_policy"]
        return before, stats, algo.get_module().state_dict()
    finally:
        algo.stop()


def test_ppo_trains_the_mixture_head_on_a_real_ray(ray_session):
    training = PPOTrainingConfig(num_env_runners=1, num_envs_per_env_runner=4, rollout_fragment_length=32,
                                 minibatch_size=64, num_epochs=2, seed=0,
                                 model_config={"embodiment": "franka_panda", "action_head": "gmm"})
    before, stats, after = one_ppo_iteration(training, envs.MANIPULATION_ID, {"embodiment": "franka_panda", "task": "reach"})
    assert np.isfinite(stats["policy_loss"]) and np.isfinite(stats["entropy"])
    assert not torch.equal(before["head.weights.weight"], after["head.weights.weight"])
    assert not torch.equal(before["head.means.weight"], after["head.means.weight"])
