"""Proprioception pretraining (the embodiment guide's stage 1): the actor's encoders learn from recorded episodes
before RL, by predicting the next proprioceptive state and, where episodes carry camera images, by matching
each image with its own proprioception (contrastive). `pretrain` writes the encoders; the VLA module loads them
with model_config["pretrained_encoder"]; `python -m vla_ray.pretraining` is the command line."""
