"""After a sweep: the best configuration per terrain, a robustness matrix, and the best policies exported.

The robustness matrix evaluates the best policy of each terrain (trained in world X) in the
best world of every terrain (world Y), with the same evaluator as `python -m vla_ray.evaluate`;
evaluations run as Ray tasks, so on a cluster they spread over its nodes.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import ray

from vla_ray.checkpoints import PolicyCard
from vla_ray.sweep.worlds import World


@dataclass(frozen=True)
class TrialOutcome:
    trial_id: str
    world: World
    metric: float  # the sweep's metric at the trial's last report
    success: float
    episode_return_mean: float
    iterations: int
    env_steps: int
    checkpoint: str | None  # the trial's latest vla-ray checkpoint

    @property
    def terrain(self) -> str:
        return self.world.terrain or "floor"


def outcomes(result_grid, metric: str) -> list[TrialOutcome]:
    rows = []
    for result in result_grid:
        last = result.metrics or {}
        rows.append(TrialOutcome(
            trial_id=str(last.get("trial_id", result.path)), world=World.from_dict(result.config["world"]),
            metric=float(last.get(metric, math.nan)), success=float(last.get("success", math.nan)),
            episode_return_mean=float(last.get("episode_return_mean", math.nan)),
            iterations=int(last.get("training_iteration", 0)), env_steps=int(last.get("env_steps", 0)),
            checkpoint=result.checkpoint.path if result.checkpoint else None,
        ))
    return rows


def best_per_terrain(rows: list[TrialOutcome], mode: str) -> dict[str, TrialOutcome]:
    """The trial with the best final metric on each terrain, among trials that left a checkpoint."""
    sign = 1.0 if mode == "max" else -1.0
    best: dict[str, TrialOutcome] = {}
    for row in rows:
        if row.checkpoint is None or math.isnan(row.metric):
            continue
        current = best.get(row.terrain)
        if current is None or sign * row.metric > sign * current.metric:
            best[row.terrain] = row
    return best


@ray.remote(num_cpus=1)
def _evaluate(checkpoint: str, env_settings: dict, episodes: int, seed: int) -> dict:
    from vla_ray.evaluate import evaluate_policy
    from vla_ray.policy import Policy

    return evaluate_policy(Policy.from_checkpoint(checkpoint), env_settings, episodes, seed=seed).to_dict()


def robustness_matrix(best: dict[str, TrialOutcome], base_env_config: dict, episodes: int, seed: int = 0) -> dict:
    """{trained_on: {evaluated_in: evaluation report}} over the best trial of every terrain."""
    pending = {
        (trained, evaluated): _evaluate.remote(row.checkpoint, target.world.env_settings(base_env_config), episodes, seed)
        for trained, row in best.items() for evaluated, target in best.items()
    }
    reports = dict(zip(pending, ray.get(list(pending.values()))))
    return {trained: {evaluated: reports[trained, evaluated] for evaluated in best} for trained in best}


def export_best(best: dict[str, TrialOutcome], out_dir: Path) -> dict[str, Path]:
    """Copy each terrain's best checkpoint to out_dir/<terrain>: a vla-ray checkpoint `python -m serve` reads."""
    exported = {}
    for terrain, row in best.items():
        target = out_dir / terrain
        partial = out_dir / f".{terrain}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(row.checkpoint, partial)
        PolicyCard.load(partial)  # a checkpoint without its card cannot be served: fail here, not at deploy time
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        exported[terrain] = target
    return exported


def _cell(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def markdown(rows: list[TrialOutcome], best: dict[str, TrialOutcome], matrix: dict, metric: str) -> str:
    lines = [f"## Best configuration per terrain ({metric})", "",
             f"| terrain | world | {metric} | success | return | iterations | env steps |",
             "|---|---|---|---|---|---|---|"]
    for terrain, row in sorted(best.items()):
        lines.append(f"| {terrain} | {row.world.name} | {_cell(row.metric)} | {_cell(row.success)}"
                     f" | {_cell(row.episode_return_mean)} | {row.iterations} | {row.env_steps:,} |")
    if matrix:
        worlds = sorted(best)
        lines += ["", "## Robustness: success rate (mean return) of the policy trained on the row's terrain, "
                      "evaluated in the column's world", "",
                  "| trained on \\ evaluated in | " + " | ".join(worlds) + " |", "|---" * (len(worlds) + 1) + "|"]
        for trained in worlds:
            cells = [f"{_cell(matrix[trained][w]['success_rate'])} ({matrix[trained][w]['mean_return']:.1f})"
                     for w in worlds]
            lines.append(f"| {trained} | " + " | ".join(cells) + " |")
    lines += ["", f"## All trials ({len(rows)})", "", f"| world | {metric} | success | iterations |", "|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: r.world.name):
        lines.append(f"| {row.world.name} | {_cell(row.metric)} | {_cell(row.success)} | {row.iterations} |")
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, rows: list[TrialOutcome], best: dict[str, TrialOutcome], matrix: dict,
                 exported: dict[str, Path], metric: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps({
        "metric": metric,
        "trials": [{**asdict(r), "world": asdict(r.world), "world_name": r.world.name} for r in rows],
        "best": {t: r.trial_id for t, r in best.items()},
        "robustness": matrix,
        "exported": {t: str(p.resolve()) for t, p in exported.items()},
    }, indent=2, default=float))
    report = out_dir / "results.md"
    report.write_text(markdown(rows, best, matrix, metric))
    return report
