"""Checkpoints: RLlib's algorithm checkpoint plus the policy card that evaluation and serving read.

A checkpoint directory is written under a temporary name and renamed into place, so a
crash never leaves a half-written checkpoint that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ray.rllib.callbacks.utils import make_callback

POLICY_CARD = "vla_ray_policy.json"
LATEST = "LATEST"
MODULE_SUBDIR = Path("learner_group") / "learner" / "rl_module" / "default_policy"


@dataclass(frozen=True)
class PolicyCard:
    """What a consumer of a checkpoint needs besides the weights."""

    env_id: str
    env_config: dict  # the settings the policy last trained under (curriculum stage included)
    model_config: dict
    embodiment: str
    stage: str
    training_iteration: int
    env_steps: int

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def load(cls, checkpoint: Path) -> "PolicyCard":
        path = Path(checkpoint) / POLICY_CARD
        if not path.is_file():
            raise FileNotFoundError(f"{checkpoint}: expected a vla-ray checkpoint containing {POLICY_CARD}")
        return cls(**json.loads(path.read_text()))


def save_checkpoint(algorithm, run_dir: Path, name: str, card: PolicyCard) -> Path:
    """Write algorithm state + policy card to run_dir/name atomically and point run_dir/LATEST at it."""
    return _write_checkpoint(run_dir, name, card, lambda partial: algorithm.save_to_path(str(partial.resolve())))


def save_policy_checkpoint(module, run_dir: Path, name: str, card: PolicyCard) -> Path:
    """A policy-only checkpoint (the RLModule and its card, no optimizer or EnvRunner state): all that
    evaluation, serving and export read, e.g. for a policy trained outside an Algorithm."""
    return _write_checkpoint(
        run_dir, name, card, lambda partial: module.save_to_path(str((partial / MODULE_SUBDIR).resolve()))
    )


def _write_checkpoint(run_dir: Path, name: str, card: PolicyCard, write_state) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / name
    partial = run_dir / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    write_state(partial)
    (partial / POLICY_CARD).write_text(card.to_json())
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    pointer = run_dir / f".{LATEST}.partial"
    pointer.write_text(name)
    os.replace(pointer, run_dir / LATEST)
    return final


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory, or a run directory whose LATEST names one."""
    path = Path(path)
    if (path / POLICY_CARD).is_file():
        return path
    if (path / LATEST).is_file():
        return resolve_checkpoint(path / (path / LATEST).read_text().strip())
    raise FileNotFoundError(f"{path}: expected a vla-ray checkpoint ({POLICY_CARD}) or a run directory with {LATEST}")


def restore_checkpoint(algorithm, path: str | Path) -> Path:
    """Restore an Algorithm from a checkpoint (or a run directory's LATEST) and fire on_checkpoint_loaded,
    which RLlib's restore_from_path does not (only Tune's load_checkpoint does), so callbacks such as the
    curriculum re-apply their state to the EnvRunners."""
    checkpoint = resolve_checkpoint(path)
    algorithm.restore_from_path(str(checkpoint.resolve()))
    make_callback(
        "on_checkpoint_loaded",
        callbacks_objects=algorithm.callbacks,
        callbacks_functions=algorithm.config.callbacks_on_checkpoint_loaded,
        kwargs=dict(algorithm=algorithm),
    )
    return checkpoint


def module_path(checkpoint: Path) -> Path:
    return Path(checkpoint) / MODULE_SUBDIR
