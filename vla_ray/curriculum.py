"""Performance-gated curricula (seed: humanoid guide, Stage 3: stand, then walk at 0.3 -> 1.5 m/s).

A stage is a set of environment settings plus the thresholds that promote past it.
Promotion reads only episodes played under the current stage, so a stage is judged on
its own data: EnvRunners report per-iteration episode counts, and the driver keeps the
window of the most recent `min_episodes` episodes (RLlib's windowed means cover only the
episodes of one iteration, which for 20 s episodes can be a single lucky one). The stage
index is kept in the Algorithm's metrics state, which RLlib saves in every checkpoint, so a
resumed run continues in the stage it left.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils import force_list
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

from vla_ray.env_settings import apply_env_settings


# Promotions so far, as a lifetime sum in the Algorithm's MetricsLogger: RLlib checkpoints that state
# (Algorithm.get_state), so the stage survives save/restore like num_env_steps_sampled_lifetime does.
PROMOTIONS_METRIC = "curriculum_promotions"
METRICS_KEY = "curriculum"
REWARD_TERMS_KEY = "reward_terms"


@dataclass(frozen=True)
class CurriculumStage:
    name: str
    env_settings: dict = field(default_factory=dict)  # applied to every environment of every EnvRunner
    min_survival: float = 0.9  # fraction of recent episodes that ended without a fall
    max_velocity_error_mps: float | None = None  # mean |v - v*| over recent episodes
    min_episodes: int = 32  # recent episodes judged (also the window of the metrics)

    def __post_init__(self):
        if not 0.0 <= self.min_survival <= 1.0:
            raise ValueError(f"CurriculumStage({self.name}).min_survival={self.min_survival}: expected within [0, 1]")
        if self.max_velocity_error_mps is not None and self.max_velocity_error_mps <= 0:
            raise ValueError(
                f"CurriculumStage({self.name}).max_velocity_error_mps={self.max_velocity_error_mps}: expected > 0"
            )
        if self.min_episodes < 1:
            raise ValueError(f"CurriculumStage({self.name}).min_episodes={self.min_episodes}: expected >= 1")


def _walk(v: float) -> CurriculumStage:
    # Promotion to a faster speed needs the tracking bar: error <= 0.15 m/s, few falls.
    return CurriculumStage(
        f"walk_{v:.1f}", {"task": "walk", "target_velocity_mps": v, "randomization": {"push_force_n": (0.0, 0.0)}},
        min_survival=0.9, max_velocity_error_mps=0.15,
    )


# seed: humanoid guide, train_standing then train_walking's speed stages; standing is learned first without,
# then with the sim-to-real section's pushes (push_force 0-100 N), which a PD-only stance does not survive.
HUMANOID_CURRICULUM: tuple[CurriculumStage, ...] = (
    CurriculumStage("stand",
                    {"task": "stand", "target_velocity_mps": 0.0, "randomization": {"push_force_n": (0.0, 0.0)}},
                    min_survival=0.95),
    CurriculumStage("stand_pushed",
                    {"task": "stand", "target_velocity_mps": 0.0, "randomization": {"push_force_n": (0.0, 100.0)}},
                    min_survival=0.95),
    *(_walk(v) for v in (0.3, 0.5, 0.8, 1.0, 1.5)),
)


class EpisodeWindow:
    """Per-iteration episode counts of one stage; statistics over the newest >= n episodes."""

    def __init__(self):
        self._iterations: deque[tuple[float, float, float]] = deque(maxlen=10_000)

    def add(self, episodes: float, survived: float, velocity_error_sum: float) -> None:
        if episodes > 0:
            self._iterations.append((episodes, survived, velocity_error_sum))

    def clear(self) -> None:
        self._iterations.clear()

    def stats(self, min_episodes: int) -> dict:
        n = survived = error = 0.0
        for count, alive, err in reversed(self._iterations):
            n, survived, error = n + count, survived + alive, error + err
            if n >= min_episodes:
                break
        if n == 0:
            return {"episodes": 0}
        return {"episodes": int(n), "survived": survived / n, "velocity_error_mps": error / n}


def judge_stage(stage: CurriculumStage, stats: dict) -> tuple[bool, str]:
    """(promote?, reason) from the statistics of the stage's most recent episodes."""
    episodes = stats.get("episodes", 0)
    if episodes < stage.min_episodes:
        return False, f"{int(episodes)}/{stage.min_episodes} episodes"
    survival = stats.get("survived", 0.0)
    if survival < stage.min_survival:
        return False, f"survival {survival:.2f} < {stage.min_survival:.2f}"
    error = stats.get("velocity_error_mps")
    if stage.max_velocity_error_mps is not None and (error is None or error > stage.max_velocity_error_mps):
        return False, f"velocity error {error:.3f} > {stage.max_velocity_error_mps:.3f} m/s"
    return True, "thresholds met"


class CurriculumCallback(RLlibCallback):
    """Logs per-stage episode statistics on the EnvRunners and promotes on the driver.

    Other curricula: `config.callbacks(functools.partial(CurriculumCallback, stages=...))`.
    """

    def __init__(self, stages: tuple[CurriculumStage, ...] = HUMANOID_CURRICULUM):
        super().__init__()
        if not stages:
            raise ValueError("CurriculumCallback.stages: expected at least one stage")
        self.stages = tuple(stages)
        self.window = EpisodeWindow()  # driver side: episodes of the current stage

    # -- EnvRunner side ----------------------------------------------------------------------------
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        summary = episode.get_infos(-1).get("episode")
        if summary is None or metrics_logger is None:
            return
        key = summary["tag"]  # the stage name, set by apply_stage
        # Sums per iteration (RLlib resets "sum" stats at every reduce); the driver windows them.
        metrics_logger.log_value((METRICS_KEY, key, "episodes"), 1, reduce="sum")
        metrics_logger.log_value((METRICS_KEY, key, "survived"), float(not summary["fell"]), reduce="sum")
        metrics_logger.log_value(
            (METRICS_KEY, key, "velocity_error_sum"), summary["velocity_tracking_error_mps"], reduce="sum"
        )
        window = max(s.min_episodes for s in self.stages)
        metrics_logger.log_value((METRICS_KEY, key, "duration_s"), summary["duration_s"], reduce="mean", window=window)
        for term, value in summary["reward_terms"].items():
            metrics_logger.log_value((REWARD_TERMS_KEY, term), value, reduce="mean", window=window)

    # -- driver side -------------------------------------------------------------------------------
    def current_stage(self, algorithm) -> int:
        return min(int(algorithm.metrics.peek(PROMOTIONS_METRIC, default=0)), len(self.stages) - 1)

    def apply_stage(self, algorithm, env_runner_indices=None) -> None:
        stage = self.stages[self.current_stage(algorithm)]
        # The tag comes back in every episode summary, so episodes are counted for the stage they ran in.
        apply_env_settings(algorithm, {**stage.env_settings, "episode_tag": stage.name}, env_runner_indices)

    def on_algorithm_init(self, *, algorithm, **kwargs) -> None:
        self.apply_stage(algorithm)

    def on_checkpoint_loaded(self, *, algorithm, **kwargs) -> None:
        self.window.clear()
        self.apply_stage(algorithm)

    def on_env_runners_recreated(self, *, algorithm, env_runner_group, env_runner_indices, is_evaluation, **kwargs):
        # Restarted runners come back with the original env_config (rllib_tech.md, curriculum pitfall 2).
        if not is_evaluation:
            self.apply_stage(algorithm, env_runner_indices)

    def on_train_result(self, *, algorithm, result: dict, **kwargs) -> None:
        index = self.current_stage(algorithm)
        stage = self.stages[index]
        counts = result.get(ENV_RUNNER_RESULTS, {}).get(METRICS_KEY, {}).get(stage.name, {})

        def count(name: str) -> float:
            value = float(counts.get(name, 0.0))
            return value if math.isfinite(value) else 0.0  # NaN: no episode of this stage ended this iteration

        self.window.add(count("episodes"), count("survived"), count("velocity_error_sum"))
        stats = self.window.stats(stage.min_episodes)
        promote, reason = judge_stage(stage, stats)
        promoted = promote and index + 1 < len(self.stages)
        if promoted:
            algorithm.metrics.log_value(PROMOTIONS_METRIC, 1, reduce="lifetime_sum")
            self.window.clear()
            self.apply_stage(algorithm)
        new_index = self.current_stage(algorithm)
        result[METRICS_KEY] = {
            "stage_index": new_index,
            "stage": self.stages[new_index].name,
            "promoted": promoted,
            "completed": promote and index + 1 == len(self.stages),
            "reason": reason,
            "stats": stats,
        }


def curriculum_of(algorithm) -> CurriculumCallback:
    """The CurriculumCallback instance of an Algorithm (RLlib keeps callbacks in a list)."""
    for callback in force_list(algorithm.callbacks):
        if isinstance(callback, CurriculumCallback):
            return callback
    raise ValueError("algorithm has no CurriculumCallback: expected config.callbacks(CurriculumCallback)")
