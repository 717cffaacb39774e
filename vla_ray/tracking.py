"""MLflow tracking for a training run: parameters, per-iteration metrics, checkpoints, videos.

The default store is a SQLite file plus an artifact folder under the run directory, so a
laptop run needs no server; pass --mlflow-uri to log to a tracking server instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

MAX_PARAM_CHARS = 6000  # MLflow rejects longer parameter values


def default_tracking_uri(root: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def flatten(prefix: str, value, out: dict) -> dict:
    """Nested dicts -> {"a/b/c": scalar}."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}/{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value
    return out


class TrainingRun:
    """One MLflow run; use as a context manager so a crash marks the run FAILED."""

    def __init__(self, tracking_uri: str, experiment: str, run_name: str, artifact_root: Path | None = None):
        self.client = MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            location = artifact_root.resolve().as_uri() if artifact_root else None
            experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        else:
            experiment_id = found.experiment_id
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        self.tracking_uri = tracking_uri

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.client.set_terminated(self.run_id, "FAILED" if exc_type else "FINISHED")
        return False

    def log_params(self, params: dict) -> None:
        flat = flatten("", params, {})
        batch = [mlflow.entities.Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in sorted(flat.items())]
        for i in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[i : i + 100])

    def log_metrics(self, metrics: dict, step: int) -> None:
        flat = flatten("", metrics, {})
        entries = [
            mlflow.entities.Metric(k.replace(" ", "_"), float(v), 0, step)
            for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        if entries:
            self.client.log_batch(self.run_id, metrics=entries)

    def set_tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)
