"""Peak memory of a default training run, all Ray processes included.

    python -m benchmarks.peak_memory [--minutes 3]

Runs the main job's training configuration in-process and samples, once a second, the memory
of this process and every descendant (raylet, GCS, dashboard, EnvRunners, ...): the sum of
unique set sizes (USS: memory no other process shares) and the sum of resident set sizes (RSS,
which counts shared libraries once per process and so overstates).
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import psutil
import ray

import envs
from vla_ray.curriculum import HUMANOID_CURRICULUM, CurriculumCallback
from vla_ray.training import PPOTrainingConfig, build_ppo_config


def tree_memory() -> tuple[int, int]:
    root = psutil.Process()
    uss = rss = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        uss += info.uss
        rss += info.rss
    return uss, rss


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=3.0)
    args = p.parse_args()
    peak = {"uss": 0, "rss": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            uss, rss = tree_memory()
            peak["uss"], peak["rss"] = max(peak["uss"], uss), max(peak["rss"], rss)
            time.sleep(1.0)

    ray.init(address="local", include_dashboard=True)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    config = build_ppo_config(PPOTrainingConfig(), envs.HUMANOID_LOCOMOTION_ID,
                              dict(HUMANOID_CURRICULUM[0].env_settings), CurriculumCallback)
    algo = config.build_algo()
    start, iterations = time.time(), 0
    while time.time() - start < args.minutes * 60:
        algo.train()
        iterations += 1
    stop.set()
    watcher.join()
    algo.stop()
    gib = 1024**3
    print(json.dumps({"iterations": iterations, "peak_uss_gib": round(peak["uss"] / gib, 2),
                      "peak_rss_gib": round(peak["rss"] / gib, 2)}, indent=2))


if __name__ == "__main__":
    main()
