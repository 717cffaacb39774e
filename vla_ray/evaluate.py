"""Roll out a checkpoint and report the seeds' metrics; optionally write an MP4 rendered offscreen.

    python -m vla_ray.evaluate --checkpoint runs/humanoid_curriculum --episodes 20 --video out.mp4

Metrics (seed: embodiment guide, EmbodimentEvaluator): success rate, completion time,
velocity-tracking error, action smoothness, safety violations (joint-limit hits, falls,
safety-filter interventions).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from vla_ray.policy import Policy

JOINT_LIMIT_MARGIN_RAD = 0.01  # a joint this close to a limit counts as a limit hit
SUCCESS_VELOCITY_ERROR_MPS = 0.15  # walking succeeds when it tracks this well without falling


@dataclass(frozen=True)
class EvaluationReport:
    episodes: int
    task: str
    target_velocity_mps: float | None  # locomotion tasks with a forward-velocity target
    success_rate: float
    completion_time_s: float  # mean duration of successful episodes (NaN if none)
    mean_episode_duration_s: float
    mean_return: float
    velocity_tracking_error_mps: float  # NaN for tasks without a velocity command
    position_error_m: float  # final position error of manipulation tasks (NaN for locomotion)
    action_smoothness: float  # mean |a_t - a_{t-1}|_2 of normalized actions
    falls: int
    joint_limit_hits: int  # steps with any joint within JOINT_LIMIT_MARGIN_RAD of a limit
    safety_intervention_steps: int  # steps where the safety filter changed the command
    safety_fallback_steps: int

    def to_dict(self) -> dict:
        return asdict(self)


def episode_success(summary: dict) -> bool:
    """The environment's own verdict where it gives one; the humanoid's from its fall and tracking error."""
    if "success" in summary:
        return summary["success"]
    if summary["fell"]:
        return False
    return summary["task"] == "stand" or summary["velocity_tracking_error_mps"] <= SUCCESS_VELOCITY_ERROR_MPS


def _mean(summaries: list[dict], key: str) -> float:
    values = [s[key] for s in summaries if key in s]
    return float(np.mean(values)) if values else float("nan")


def evaluate_policy(
    policy: Policy, env_settings: dict, episodes: int, seed: int = 0, video_path: str | None = None,
    deterministic: bool = True,
) -> EvaluationReport:
    def act(observation: dict) -> np.ndarray:
        return policy.act({k: v[None] for k, v in observation.items()}, deterministic=deterministic)[0]

    return evaluate_controller(act, policy.card.env_id, env_settings, episodes, seed, video_path)


def evaluate_controller(
    act: Callable[[dict], np.ndarray], env_id: str, env_settings: dict, episodes: int, seed: int = 0,
    video_path: str | None = None,
) -> EvaluationReport:
    """Roll out `act` (one observation -> one normalized action) and report the seeds' metrics. The policy can
    be local or remote (experiments/serve_client.py): the metrics are the same code either way."""
    env = gym.make(f"envs:{env_id}", render_mode="rgb_array" if video_path else None, **env_settings)
    base = env.unwrapped
    lower, upper = base.embodiment.joint_lower, base.embodiment.joint_upper
    summaries, returns, smoothness = [], [], []
    limit_hits = 0
    frames = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        prev_action, total, done = None, 0.0, False
        while not done:
            action = act(obs)
            if prev_action is not None:
                smoothness.append(float(np.linalg.norm(action - prev_action)))
            prev_action = action
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            q = base.joint_pos
            limit_hits += int(np.any((q - lower < JOINT_LIMIT_MARGIN_RAD) | (upper - q < JOINT_LIMIT_MARGIN_RAD)))
            if video_path and episode == 0:
                frames.append(env.render())
            done = terminated or truncated
        summaries.append(info["episode"])
        returns.append(total)
    env.close()
    if video_path:
        import imageio.v2 as imageio

        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        imageio.mimsave(video_path, frames, fps=int(round(1.0 / base.control_dt_s)), macro_block_size=1)
    successes = [s for s in summaries if episode_success(s)]
    return EvaluationReport(
        episodes=episodes,
        task=summaries[0]["task"],
        target_velocity_mps=summaries[0].get("target_velocity_mps"),
        success_rate=len(successes) / episodes,
        completion_time_s=float(np.mean([s.get("completion_time_s") or s["duration_s"] for s in successes]))
        if successes else float("nan"),
        mean_episode_duration_s=float(np.mean([s["duration_s"] for s in summaries])),
        mean_return=float(np.mean(returns)),
        velocity_tracking_error_mps=_mean(summaries, "velocity_tracking_error_mps"),
        position_error_m=_mean(summaries, "position_error_m"),
        action_smoothness=float(np.mean(smoothness)) if smoothness else 0.0,
        falls=sum(int(s["fell"]) for s in summaries),
        joint_limit_hits=limit_hits,
        safety_intervention_steps=sum(s["safety_intervention_steps"] for s in summaries),
        safety_fallback_steps=sum(s["safety_fallback_steps"] for s in summaries),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory, or a run directory (uses LATEST)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--video", default=None, help="write the first episode as an MP4 here")
    parser.add_argument("--task", choices=["stand", "walk"], default=None, help="default: the checkpoint's stage")
    parser.add_argument("--target-velocity", type=float, default=None, help="m/s, for --task walk")
    parser.add_argument("--push-force-max", type=float, default=None, help="N; default: the checkpoint's stage")
    parser.add_argument("--episode-length", type=float, default=None, help="seconds")
    parser.add_argument("--stochastic", action="store_true", help="sample actions instead of the mean")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes={args.episodes}: expected >= 1")
    policy = Policy.from_checkpoint(args.checkpoint)
    settings = dict(policy.card.env_config)
    overrides = {"task": args.task, "target_velocity_mps": args.target_velocity, "episode_length_s": args.episode_length}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if args.push_force_max is not None:
        settings["randomization"] = {**settings.get("randomization", {}), "push_force_n": (0.0, args.push_force_max)}
    if args.task == "stand":
        settings["target_velocity_mps"] = 0.0
    report = evaluate_policy(policy, settings, args.episodes, args.seed, args.video, not args.stochastic)
    print(json.dumps(report.to_dict(), indent=2))
    if args.video:
        print(f"video: {args.video}")


if __name__ == "__main__":
    main()
