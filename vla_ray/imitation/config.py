"""ImitationConfig: which method, which expert data, which observation parts the discriminator sees, how its
reward mixes with the task's; validated at construction, then applied to a PPOConfig."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from vla_ray.configs import checked_keys

METHODS = ("gail", "amp")
TRANSITIONS = ("state_action", "state_next_state")
DISCRIMINATOR_ID = "discriminator"

# Per method: GAIL (Ho & Ermon) scores (s, a) with a cross-entropy discriminator and imitates only; AMP
# (Peng et al.) scores (s, s') with a least-squares discriminator, a gradient penalty on the expert data and a
# replay of older policy transitions, and mixes the style reward 0.5 / 0.5 with the task's (the humanoid seed).
METHOD_DEFAULTS = {
    "gail": dict(transition="state_action", task_weight=0.0, style_weight=1.0, gradient_penalty=0.0, replay_size=0),
    "amp": dict(transition="state_next_state", task_weight=0.5, style_weight=0.5, gradient_penalty=10.0,
                replay_size=100_000),
}


@dataclass(frozen=True)
class ImitationConfig:
    method: str
    # An episode dataset (vla_ray.datasets) of expert behaviour in the same environment, or (AMP on the humanoid)
    # a retargeted motion (vla_ray.mocap), whose frames become observations in that environment.
    expert_dataset: str
    features: tuple[str, ...]  # observation parts the discriminator sees (of s, and of s' for state_next_state)
    transition: str
    task_weight: float  # reward = task_weight * task reward + style_weight * style reward per second
    style_weight: float
    gradient_penalty: float  # weight of the expert-data gradient penalty (AMP: 10)
    replay_size: int  # policy transitions kept for the discriminator (0: only the current batch)
    hidden: tuple[int, ...] = (256, 256)
    lr: float = 1e-4

    def __post_init__(self):
        def fail(name, expected):
            raise ValueError(f"ImitationConfig.{name}={getattr(self, name)!r}: expected {expected}")

        if self.method not in METHODS:
            fail("method", f"one of {METHODS}")
        if self.transition not in TRANSITIONS:
            fail("transition", f"one of {TRANSITIONS}")
        if not Path(self.expert_dataset).is_file():
            fail("expert_dataset", "an existing Parquet episode dataset (experiments/record_demos.py) or motion "
                                   "(python -m vla_ray.mocap.retarget)")
        if not self.features or not all(isinstance(f, str) for f in self.features):
            fail("features", "a non-empty list of observation part names")
        for name in ("task_weight", "style_weight", "gradient_penalty"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                fail(name, "a finite number >= 0")
        if self.task_weight == 0 and self.style_weight == 0:
            fail("style_weight", "> 0 when task_weight is 0 (no reward at all)")
        if self.replay_size < 0:
            fail("replay_size", ">= 0")
        if not self.hidden or any(h < 1 for h in self.hidden):
            fail("hidden", "a non-empty list of layer widths >= 1")
        if not self.lr > 0:
            fail("lr", "> 0")

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "ImitationConfig":
        """`method` picks the defaults (METHOD_DEFAULTS); any field can override them."""
        method = kwargs.get("method")
        if method not in METHODS:
            raise ValueError(f"ImitationConfig.method={method!r}: expected one of {METHODS}")
        values = checked_keys(cls, {**METHOD_DEFAULTS[method], **kwargs}, "ImitationConfig")
        for name in ("features", "hidden"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def pose_slice(config: ImitationConfig, spec) -> tuple[int, int] | None:
    """Where the joint angles of s sit in a transition's features (None without joint_pos among them)."""
    start = 0
    for name in config.features:
        size = int(math.prod(spec.part(name).shape))
        if name == "joint_pos":
            return start, start + size
        start += size
    return None


def with_imitation(ppo_config, imitation: ImitationConfig, env_id: str, env_config: dict):
    """`ppo_config` (from vla_ray.training.build_ppo_config) extended with a discriminator module next to the
    policy, the imitation Learner, and the discriminator's own learning rate."""
    import envs
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from vla_ray.imitation.discriminator import Discriminator
    from vla_ray.imitation.features import feature_dim
    from vla_ray.imitation.learner import LEARNER_CONFIG_KEY, ImitationPPOTorchLearner, load_expert_features

    interface = envs.policy_interface(env_id, env_config)
    dim = feature_dim(imitation, interface.observation_spec, interface.embodiment.action_dim)
    if load_expert_features(imitation, env_id, env_config).shape[1] != dim:
        raise ValueError(f"ImitationConfig.expert_dataset={imitation.expert_dataset!r}: its features do not match "
                         f"the environment's ({dim} values per transition)")
    policy = ppo_config.rl_module_spec
    discriminator = RLModuleSpec(
        module_class=Discriminator, learner_only=True,
        model_config={"input_dim": dim, "hidden": list(imitation.hidden),
                      "loss": "bce" if imitation.method == "gail" else "lsgan",
                      "gradient_penalty": imitation.gradient_penalty},
    )
    return (
        ppo_config
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"default_policy": policy,
                                                                     DISCRIMINATOR_ID: discriminator}),
                   algorithm_config_overrides_per_module={DISCRIMINATOR_ID: AlgorithmConfig.overrides(lr=imitation.lr)})
        .learners(learner_class=ImitationPPOTorchLearner,
                  learner_config_dict={LEARNER_CONFIG_KEY: {
                      "config": imitation.to_dict(), "env_id": env_id, "env_config": dict(env_config),
                      "pose_slice": pose_slice(imitation, interface.observation_spec),
                      "control_dt_s": 1.0 / interface.embodiment.control_frequency_hz}})
    )
