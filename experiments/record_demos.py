"""Record demonstrations from a scripted expert or a checkpoint as an episode dataset (Parquet, one row per step).

    python experiments/record_demos.py --env vla_ray/Manipulation-v0 --env-config '{"task": "pick_place"}' \\
        --expert --episodes 100 --num-envs 10 --out demos/franka_pick_place.parquet
    python experiments/record_demos.py --checkpoint runs/train --episodes 20 --out demos/policy.parquet

With --checkpoint the environment is the checkpoint's, under its last training settings with
--env-config merged over them. Prints the summary (episodes, success rate, mean return, steps)
as one JSON line; the file's metadata holds the same summary.
"""

from __future__ import annotations

import argparse
import json

import envs
from vla_ray.datasets.recording import record_expert, record_policy


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=sorted(envs.ENVIRONMENTS), help="registered environment id (default with "
                   "--checkpoint: the checkpoint's)")
    p.add_argument("--env-config", type=json.loads, default={}, help="environment settings as JSON")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--expert", action="store_true", help="the task's scripted expert (manipulation tasks)")
    source.add_argument("--checkpoint", help="checkpoint directory, or a run directory (uses LATEST)")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--out", required=True, help="the Parquet file to write")
    p.add_argument("--num-envs", type=int, default=1, help="robots simulated side by side")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes={args.episodes}: expected >= 1")
    if args.num_envs < 1:
        p.error(f"--num-envs={args.num_envs}: expected >= 1")
    if args.expert and args.env is None:
        p.error("--expert needs --env")
    if args.expert:
        # Fail on a bad setting here, before anything is simulated: the same validation the environment applies.
        envs.policy_interface(args.env, args.env_config)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.expert:
        summary = record_expert(args.out, args.env, args.env_config, args.episodes, args.num_envs, args.seed)
    else:
        summary = record_policy(
            args.out, args.checkpoint, args.episodes, args.env_config, args.num_envs, args.seed, args.env
        )
    print(json.dumps(summary.to_dict()))


if __name__ == "__main__":
    main()
