"""Learning at equal wall-clock: our PPO training configuration on RLlib vs Stable-Baselines3's PPO.

    pip install -e ".[bench]"   # stable-baselines3
    python -m benchmarks.learning_vs_sb3 [--env Hopper-v5] [--minutes 8] [--seed 0]

The brief's reference point: on Hopper-v5 for 8 minutes on this 2-core machine, SB3's PPO (defaults,
2 processes) reached a return of about 1,400-1,600 and stock RLlib PPO about 580. Both runs here get
the whole machine in turn, for the same wall-clock budget, on the same task:
  - SB3: PPO("MlpPolicy") with its defaults on a 2-process SubprocVecEnv;
  - ours: vla_ray.training.PPOTrainingConfig's defaults (the main job's) built by build_ppo_config with
    RLlib's MLP module ([64, 64] tanh, separate value network, as SB3) and a running mean/std
    observation filter (our VLA module normalizes inside; RLlib's MLP does not).
Reported: the mean return of the last 100 training episodes at the end (SB3's ep_info_buffer and RLlib's
episode_return_mean window both hold 100), env steps, and the learning curve (return against time).
`--minibatch-size` / `--num-epochs` override our configuration's to measure what the gap depends on.
"""

import argparse
import json
import time

import numpy as np


def run_sb3(env_id: str, minutes: float, seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    curve = []
    start = time.time()
    deadline = start + minutes * 60

    class Deadline(BaseCallback):
        def _on_step(self) -> bool:
            return time.time() < deadline

        def _on_rollout_end(self) -> None:
            if self.model.ep_info_buffer:
                curve.append((round(time.time() - start), self.num_timesteps,
                              round(float(np.mean([e["r"] for e in self.model.ep_info_buffer])), 1)))

    envs = make_vec_env(env_id, n_envs=2, seed=seed, vec_env_cls=SubprocVecEnv)
    model = PPO("MlpPolicy", envs, seed=seed, device="cpu", verbose=0)
    model.learn(total_timesteps=10**9, callback=Deadline())
    trained_s = time.time() - start
    training_return = float(np.mean([e["r"] for e in model.ep_info_buffer]))
    envs.close()
    return {"env_steps": int(model.num_timesteps), "train_seconds": round(trained_s),
            "training_return": round(training_return, 1), "curve": curve}


def run_ours(env_id: str, minutes: float, seed: int, overrides: dict) -> dict:
    import ray
    from ray.rllib.connectors.env_to_module import MeanStdFilter
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from vla_ray.training import PPOTrainingConfig, build_ppo_config

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    mlp = RLModuleSpec(model_config={"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh", "vf_share_layers": False})
    config = (
        build_ppo_config(PPOTrainingConfig(seed=seed, **overrides), env_id, {}, module_spec=mlp)
        .env_runners(env_to_module_connector=lambda env, spaces, device: MeanStdFilter())
    )
    algo = config.build_algo()
    curve = []
    start = time.time()
    result = {}
    while time.time() - start < minutes * 60:
        result = algo.train()
        episode_return = result["env_runners"].get("episode_return_mean")
        if episode_return is not None:
            curve.append((round(time.time() - start), int(result["num_env_steps_sampled_lifetime"]), round(float(episode_return), 1)))
    trained_s = time.time() - start
    out = {"env_steps": int(result["num_env_steps_sampled_lifetime"]), "train_seconds": round(trained_s),
           "training_return": curve[-1][2] if curve else None, "overrides": overrides, "curve": curve}
    algo.stop()
    ray.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minibatch-size", type=int, default=None, help="ours; default: PPOTrainingConfig's")
    parser.add_argument("--num-epochs", type=int, default=None, help="ours; default: PPOTrainingConfig's")
    parser.add_argument("--only", choices=["ours", "sb3"], default=None, help="run one side (compare across runs)")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("minibatch_size", args.minibatch_size), ("num_epochs", args.num_epochs)) if v}
    results = {"env": args.env, "minutes": args.minutes, "seed": args.seed}
    if args.only != "sb3":
        results["ours_rllib"] = run_ours(args.env, args.minutes, args.seed, overrides)
    if args.only != "ours":
        results["sb3"] = run_sb3(args.env, args.minutes, args.seed)
    if args.only is None:
        results["ratio_training_return_ours_over_sb3"] = round(
            results["ours_rllib"]["training_return"] / results["sb3"]["training_return"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
