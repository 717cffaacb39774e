"""Adversarial imitation on PPO (GAIL, AMP): a discriminator trained in PPO's own Learner, whose score on each
policy transition becomes a style reward before advantages are computed (rllib_tech.md section 3's pattern:
a learner-only RLModule plus a learner-connector piece)."""
