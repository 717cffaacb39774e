"""Tune sweeps over worlds (terrain, level, randomization): trials, search space and the post-sweep report."""
