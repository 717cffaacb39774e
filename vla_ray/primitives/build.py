"""Build a motion-primitive library from MoCap clips or retargeted motion datasets.

    python -m vla_ray.primitives.build --motions ../shared/data/motions/humanoid3d_*.txt --out runs/primitives/humanoid.pt

Clips (DeepMimic, BVH, NPZ) are retargeted onto the robot with its preset map; Parquet motion
datasets (python -m vla_ray.mocap.retarget) are read as they are. The last --holdout-fraction of
every motion is kept out of training and reconstructed through the VAE (encode, decode) to measure
the round trip on motion it has not seen, against holding the start pose. The library goes to --out,
the report (losses, errors, primitive names and what they were made from) next to it as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vla_ray.embodiment import EmbodimentConfig, get_embodiment
from vla_ray.mocap.dataset import read_motion
from vla_ray.mocap.loaders import load_clip
from vla_ray.mocap.motion import RetargetedMotion
from vla_ray.mocap.retarget import retarget
from vla_ray.mocap.retarget_config import retarget_preset
from vla_ray.primitives.library import PrimitiveLibrary, build_library, chunk_error_rad, reconstruct
from vla_ray.primitives.vae import VAEConfig
from vla_ray.primitives.windows import MotionWindows, motion_windows


def load_motions(paths: list[Path], embodiment: EmbodimentConfig) -> list[RetargetedMotion]:
    from envs.simulation import compile_scene  # only clips need the robot's model

    model = None
    motions = []
    for path in paths:
        if path.suffix == ".parquet":
            motions.append(read_motion(path))
            continue
        model = model or compile_scene(embodiment.model_path)
        clip = load_clip(path)
        motions.append(retarget(clip, retarget_preset(clip.skeleton, embodiment.robot_name), model))
    return motions


def split_windows(motions: list[RetargetedMotion], embodiment: EmbodimentConfig, horizon: int,
                  holdout_fraction: float) -> tuple[MotionWindows, MotionWindows]:
    """Per motion: the first (1 - holdout_fraction) of its windows for training, the rest held out; windows that
    would overlap both sides are dropped."""
    train, held_out = [], []
    for motion in motions:
        windows = motion_windows(motion, embodiment, horizon)
        cut = int(round(len(windows) * (1.0 - holdout_fraction)))
        train.append(windows.subset(windows.frames < cut - horizon))
        held_out.append(windows.subset(windows.frames >= cut))
    return MotionWindows.concatenate(train), MotionWindows.concatenate(held_out)


def held_out_report(vae, windows: MotionWindows, embodiment: EmbodimentConfig) -> dict:
    hold = np.repeat(windows.poses[:, None], windows.chunks.shape[1], axis=1)
    return {
        "windows": len(windows),
        "reconstruction_rms_rad": chunk_error_rad(reconstruct(vae, windows), windows.chunks, embodiment),
        "hold_pose_rms_rad": chunk_error_rad(hold, windows.chunks, embodiment),
    }


def build(paths: list[Path], embodiment: EmbodimentConfig, out: Path, num_primitives: int, horizon: int,
          holdout_fraction: float, vae_config: VAEConfig) -> tuple[PrimitiveLibrary, dict]:
    train, held_out = split_windows(load_motions(paths, embodiment), embodiment, horizon, holdout_fraction)
    library, vae, report = build_library(train, embodiment, num_primitives, vae_config)
    if len(held_out):
        report["held_out"] = held_out_report(vae, held_out, embodiment)
    report["primitives"] = library.composition
    library.save(out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    return library, report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motions", nargs="+", type=Path, required=True, help="clips or Parquet motion datasets")
    p.add_argument("--out", type=Path, required=True, help="library file to write (.pt)")
    p.add_argument("--robot", default="humanoid", help="embodiment preset")
    p.add_argument("--primitives", type=int, default=16, help="number of primitives (the guide: 16)")
    p.add_argument("--horizon", type=int, default=5, help="control steps per chunk (the guide: 5)")
    p.add_argument("--holdout-fraction", type=float, default=0.2, help="end of each motion kept for the round trip")
    p.add_argument("--steps", type=int, default=VAEConfig.steps, help="VAE training steps")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not 0.0 <= args.holdout_fraction < 1.0:
        p.error(f"--holdout-fraction={args.holdout_fraction}: expected within [0, 1)")
    if args.horizon < 1:
        p.error(f"--horizon={args.horizon}: expected >= 1")
    _, report = build(args.motions, get_embodiment(args.robot), args.out, args.primitives, args.horizon,
                      args.holdout_fraction, VAEConfig(steps=args.steps, seed=args.seed))
    print(json.dumps({k: v for k, v in report.items() if k != "training"}, indent=1))
    print(f"library: {args.out}")


if __name__ == "__main__":
    main()
