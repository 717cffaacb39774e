"""The algorithms an experiment can name: each one's validated training config and the builder of its RLlib
config (the same environment, EnvRunner and placement setup for all; vla_ray.training.configure_sampling)."""

from vla_ray.training import PPOTrainingConfig, build_ppo_config
from vla_ray.training_sac import SACTrainingConfig, build_sac_config

ALGORITHMS = {"ppo": (PPOTrainingConfig, build_ppo_config), "sac": (SACTrainingConfig, build_sac_config)}
