"""Pretrain the actor's encoders on a recorded episode dataset (experiments/record_demos.py writes one).

    python -m vla_ray.pretraining --dataset demos/franka_reach.parquet --out pretrained/franka_reach.pt
    python experiments/train.py --env vla_ray/Manipulation-v0 --env-config '{"task": "reach"}' \
        --model-config '{"pretrained_encoder": "pretrained/franka_reach.pt"}'

--model-config must match the one training will use (sizes, history, vision). Prints the report:
next-state error while training and on the held-out episodes, next to the "no change" baseline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vla_ray.datasets.reader import read_dataset
from vla_ray.pretraining.pretrain import PretrainingConfig, pretrain, save_encoder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=Path, required=True, help="Parquet episode dataset")
    p.add_argument("--out", type=Path, required=True, help="encoder file to write (.pt)")
    p.add_argument("--model-config", type=json.loads, default={}, help="VLA module options as JSON")
    p.add_argument("--steps", type=int, default=PretrainingConfig.steps)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        config = PretrainingConfig(steps=args.steps, seed=args.seed)
    except ValueError as error:
        p.error(str(error))
    module, report = pretrain(read_dataset(args.dataset), args.model_config, config)
    save_encoder(module, args.out)
    print(json.dumps(report, indent=1))
    print(f"encoder: {args.out}")


if __name__ == "__main__":
    main()
