"""Cross-embodiment training on several arms at once (RLlib multi-agent PPO) and per-arm evaluation.

`build_multi_arm_config` maps every robot "<arm>/<i>" of envs' MultiArmEnv to the module of its arm
(vla_ray.models.cross_embodiment), which share one policy; `evaluate_arm` runs one arm's module
deterministically on held-out seeds, with the same environment settings, and reports the seed's
manipulation metrics. `train_multi_arm` is the loop experiments/train_multi_arm.py and the transfer
benchmark run: iterations until an env-step budget, then the arms' shared part and module weights saved.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.multi_arm import MultiArmEnv, agent_embodiment, arm_settings
from vla_ray.models.cross_embodiment import (
    ArmAdapterModule, SharedTrunkMultiModule, SharedTrunkPPOLearner, save_shared_policy,
)
from vla_ray.training import PPOTrainingConfig

ROBOT_EPISODES_FOR_SMOOTHING = 100  # the returns reported are means over about this many robot episodes (RLlib's default)


class MultiArmPPOConfig(PPOConfig):
    """PPOConfig for a batch counted in environment steps, each moving every robot, and minibatches that RLlib
    cuts per module in rows. PPOConfig.validate() requires minibatch_size <= train_batch_size_per_learner, which
    compares those two units; PPOTrainingConfig has already checked the same bound in robot steps (a module's
    share of the minibatch <= its share of the batch), so PPO's check is given a comparable number."""

    def validate(self) -> None:
        minibatch = self.minibatch_size
        self.minibatch_size = min(minibatch, self.train_batch_size_per_learner)
        try:
            super().validate()
        finally:
            self.minibatch_size = minibatch


@dataclass(frozen=True)
class MultiArmSetup:
    arms: tuple[str, ...]
    env_config: dict  # ManipulationEnvConfig settings shared by every arm (task, episode_length_s, ...)
    robots_per_arm: int = 16
    shared_checkpoint: str | None = None  # the shared part starts from here (a trained policy meeting new arms)

    def __post_init__(self):
        if not self.arms or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"MultiArmSetup.arms={self.arms!r}: expected one or more distinct arm presets")
        if self.robots_per_arm < 1:
            raise ValueError(f"MultiArmSetup.robots_per_arm={self.robots_per_arm}: expected >= 1")
        if self.shared_checkpoint is not None and not Path(self.shared_checkpoint).is_file():
            raise ValueError(f"MultiArmSetup.shared_checkpoint={self.shared_checkpoint!r}: no such file")

    @property
    def robots(self) -> int:
        """Robots one MultiArmEnv simulates: what PPOTrainingConfig.num_envs_per_env_runner counts here."""
        return len(self.arms) * self.robots_per_arm

    def env_settings(self) -> dict:
        return arm_settings(self.env_config)

    def multi_env_config(self) -> dict:
        return {**self.env_settings(), "embodiments": list(self.arms), "robots_per_embodiment": self.robots_per_arm}


def build_multi_arm_config(setup: MultiArmSetup, training: PPOTrainingConfig) -> PPOConfig:
    """PPO over MultiArmEnv: one module per arm sharing the policy, trained by SharedTrunkPPOLearner."""
    probe = MultiArmEnv(setup.multi_env_config())  # fails here, before any actor starts, on a bad setting
    spaces = {arm: (probe.arms[arm].single_observation_space, probe.arms[arm].single_action_space) for arm in setup.arms}
    probe.close()
    shared = {"shared_checkpoint": setup.shared_checkpoint} if setup.shared_checkpoint else {}
    specs = {
        arm: RLModuleSpec(
            module_class=ArmAdapterModule, observation_space=obs_space, action_space=act_space,
            model_config={**training.model_config, **shared, "embodiment": arm},
        )
        for arm, (obs_space, act_space) in spaces.items()
    }
    if training.num_envs_per_env_runner != setup.robots:
        raise ValueError(f"PPOTrainingConfig.num_envs_per_env_runner={training.num_envs_per_env_runner}: expected "
                         f"{setup.robots}, the robots of one MultiArmEnv (its batch and minibatch sizes are in robot steps)")
    return (
        MultiArmPPOConfig()
        .environment(MultiArmEnv, env_config=setup.multi_env_config(), normalize_actions=False, clip_actions=False)
        .multi_agent(
            policies=set(setup.arms),
            policy_mapping_fn=lambda agent_id, episode, **kwargs: agent_embodiment(agent_id),
            # Batches count environment steps, each moving every robot: counted in agent steps, RLlib 2.60 made
            # 7.5-8 passes over a batch with num_epochs=5 (BENCHMARKS.md); in env steps it makes 5.
            count_steps_by="env_steps",
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(multi_rl_module_class=SharedTrunkMultiModule, rl_module_specs=specs))
        .env_runners(  # one MultiArmEnv per EnvRunner: it batches its robots itself
            num_env_runners=training.num_env_runners, num_envs_per_env_runner=1,
            rollout_fragment_length=training.rollout_fragment_length, num_cpus_per_env_runner=1,
            batch_mode="truncate_episodes",
        )
        .learners(num_learners=training.num_learners, num_gpus_per_learner=training.num_gpus_per_learner,
                  learner_class=SharedTrunkPPOLearner)
        .training(
            lr=training.lr, gamma=training.gamma, lambda_=training.gae_lambda, clip_param=training.clip_param,
            # The batch counts environment steps (each moves every robot), but RLlib cuts minibatches per module in
            # rows: one arm's share of the configured minibatch (divided by the robots, it gave updates of 8-32 rows,
            # advantages normalized over each).
            num_epochs=training.num_epochs, minibatch_size=max(training.minibatch_size // len(setup.arms), 1),
            train_batch_size_per_learner=training.train_batch_size_per_learner // setup.robots,
            entropy_coeff=training.entropy_coeff, vf_loss_coeff=training.vf_loss_coeff, vf_clip_param=float("inf"),
            use_kl_loss=False, grad_clip=training.grad_clip, grad_clip_by="global_norm",
        )
        # RLlib averages returns over its last 100 episodes; one MultiArmEnv episode holds every robot's, so 100 of
        # them spanned the whole run and the reported return barely moved while the policy learned.
        .reporting(metrics_num_episodes_for_smoothing=math.ceil(ROBOT_EPISODES_FOR_SMOOTHING / setup.robots))
        .fault_tolerance(restart_failed_env_runners=True, delay_between_env_runner_restarts_s=1.0)
        .debugging(seed=training.seed)
    )


@dataclass(frozen=True)
class ArmEvaluation:
    arm: str
    episodes: int
    success_rate: float
    mean_return: float
    final_error_m: float  # the task's position error at the episode's end, mean over episodes

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@torch.no_grad()
def evaluate_arm(module: ArmAdapterModule, arm: str, env_settings: dict, episodes: int, seed: int) -> ArmEvaluation:
    """`episodes` episodes of `arm` at once (one batched environment), actions the Gaussian's mean."""
    env = ManipulationVecEnv(num_envs=episodes, embodiment=arm, **env_settings)
    try:
        obs, _ = env.reset(seed=seed)
        returns = np.zeros(episodes)
        summaries: list[dict | None] = [None] * episodes
        while any(s is None for s in summaries):
            batch = {k: torch.as_tensor(v) for k, v in obs.items()}
            inputs = module.forward_inference({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS]
            action = inputs[:, : env.embodiment.action_dim].numpy()
            obs, reward, _, _, infos = env.advance(action)
            for i, info in enumerate(infos):
                if summaries[i] is None:
                    returns[i] += reward[i]
                    if info:
                        summaries[i] = info["episode"]
        return ArmEvaluation(
            arm=arm, episodes=episodes,
            success_rate=float(np.mean([s["success"] for s in summaries])),
            mean_return=float(returns.mean()),
            final_error_m=float(np.mean([s["position_error_m"] for s in summaries])),
        )
    finally:
        env.close()


@dataclass(frozen=True)
class MultiArmResult:
    env_steps: int  # robot steps over all arms
    seconds: float
    modules: dict  # arm -> the trained ArmAdapterModule (the driver's copy, given the learner's weights every iteration)
    shared_path: Path


def robot_return(result: dict, setup: MultiArmSetup) -> float:
    """Mean return per robot: RLlib's multi-agent episode return sums every robot's."""
    return result["env_runners"].get("episode_return_mean", float("nan")) / setup.robots


def arm_returns(result: dict, setup: MultiArmSetup) -> dict[str, float]:
    """Mean return per robot of each arm (RLlib's per-module return sums the arm's robots)."""
    per_module = result["env_runners"].get("module_episode_returns_mean", {})
    return {arm: per_module.get(arm, float("nan")) / setup.robots_per_arm for arm in setup.arms}


def robot_steps(result: dict, setup: MultiArmSetup) -> int:
    # Every environment step moves every robot (robots whose episode ended wait, but all end together).
    return int(result["num_env_steps_sampled_lifetime"]) * setup.robots


def iteration_line(result: dict, setup: MultiArmSetup, seconds: float) -> str:
    arms = "  ".join(f"{arm} {value:7.3f}" for arm, value in arm_returns(result, setup).items())
    return (f"iter {result['training_iteration']:4d}  {robot_steps(result, setup):>9,} robot steps  {seconds:6.0f} s  "
            f"return per robot {robot_return(result, setup):8.3f}  ({arms})")


def train_multi_arm(setup: MultiArmSetup, training: PPOTrainingConfig, env_steps: int, out_dir: Path,
                    on_iteration=lambda result, seconds: None) -> MultiArmResult:
    """Train until `env_steps` robot steps, calling on_iteration(result, seconds) after each iteration, then save
    the shared part to out_dir/shared_policy.pt and the full algorithm to out_dir/algorithm. Ray must be up."""
    algo = build_multi_arm_config(setup, training).build_algo()
    try:
        start, steps = time.time(), 0
        while steps < env_steps:
            result = algo.train()
            steps = robot_steps(result, setup)
            on_iteration(result, time.time() - start)
        seconds = time.time() - start
        algo.save_to_path(str((out_dir / "algorithm").resolve()))
        modules = {arm: algo.get_module(arm) for arm in setup.arms}
        shared_path = save_shared_policy(modules[setup.arms[0]], out_dir / "shared_policy.pt")
        return MultiArmResult(steps, seconds, modules, shared_path)
    finally:
        algo.stop()
