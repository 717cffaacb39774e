"""EpisodeMetricsCallback: every environment's episode summary as RLlib metrics, for any task.

Environments end each episode with a summary (info["episode"]): success, fall, reward-term
sums and task numbers such as position or velocity-tracking error. This callback logs them on
the EnvRunners as windowed means, so the driver, MLflow and Tune see success rates, not only
returns.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from vla_ray.curriculum import REWARD_TERMS_KEY

EPISODE_KEY = "episode_summary"
WINDOW = 100  # episodes


class EpisodeMetricsCallback(RLlibCallback):
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        summary = episode.get_infos(-1).get("episode")
        if summary is None or metrics_logger is None:
            return
        for name, value in summary.items():
            # Flags may arrive as numpy booleans (RLlib copies infos through numpy), which are not numbers.Real.
            if isinstance(value, (bool, np.bool_)) or (isinstance(value, Real) and name != "length_steps"):
                metrics_logger.log_value((EPISODE_KEY, name), float(value), reduce="mean", window=WINDOW)
        for term, value in summary.get("reward_terms", {}).items():
            metrics_logger.log_value((REWARD_TERMS_KEY, term), value, reduce="mean", window=WINDOW)
