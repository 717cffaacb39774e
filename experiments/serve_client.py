"""A simulated robot on the policy endpoint: the MuJoCo environment queries the server at every control step,
paced at the policy's control rate, and reports the achieved rate, latency percentiles and the seeds' task
metrics (the same code as local evaluation; --checkpoint adds the local evaluation side by side).

    python -m serve --policy humanoid=runs/humanoid_curriculum &     # or: serve run serve/config.yaml
    python experiments/serve_client.py --policy humanoid --episodes 5 [--checkpoint runs/humanoid_curriculum]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from serve.client import PolicyClient, TRANSPORTS
from serve.runtime import checkpoint_version
from vla_ray.checkpoints import resolve_checkpoint
from vla_ray.evaluate import evaluate_controller, evaluate_policy
from vla_ray.policy import Policy


class PacedRemoteController:
    """Calls the endpoint once per control period, like a robot's fixed-rate loop, and records latencies."""

    def __init__(self, client: PolicyClient, rate_hz: float):
        self.client, self.period_s = client, 1.0 / rate_hz
        self.latencies_s: list[float] = []
        self.fallbacks = 0
        self._next_tick = None
        self.started = None

    def __call__(self, observation: dict) -> np.ndarray:
        now = time.perf_counter()
        if self._next_tick is None:
            self._next_tick = self.started = now
        elif now < self._next_tick:
            time.sleep(self._next_tick - now)
        self._next_tick = max(self._next_tick + self.period_s, time.perf_counter() - self.period_s)
        sent = time.perf_counter()
        reply = self.client.act(observation)
        self.latencies_s.append(time.perf_counter() - sent)
        if reply["normalized_action"] is None:
            # The server held position (non-finite policy output); a NaN action makes the env's filter do the same.
            self.fallbacks += 1
            steps = len(reply.get("action_chunk") or [reply["action"]])
            return np.full(steps * len(reply["action"]), np.nan)
        return np.asarray(reply["normalized_action"])

    def summary(self) -> dict:
        latencies_ms = np.asarray(self.latencies_s) * 1e3
        elapsed_s = time.perf_counter() - self.started
        return {
            "steps": len(latencies_ms),
            "target_rate_hz": 1.0 / self.period_s,
            "achieved_rate_hz": len(latencies_ms) / elapsed_s,
            "latency_ms": {f"p{q}": float(np.percentile(latencies_ms, q)) for q in (50, 90, 99)}
            | {"max": float(latencies_ms.max())},
            "steps_over_period": int((latencies_ms > self.period_s * 1e3).sum()),
            "server_fallbacks": self.fallbacks,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--policy", required=True, help="the served policy's name")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--transport", choices=TRANSPORTS, default="http")
    parser.add_argument("--rate-hz", type=float, default=None,
                        help="calls per second; default: the policy's control frequency (divided by its action chunk)")
    parser.add_argument("--token-env", default=None, help="environment variable holding the bearer token")
    parser.add_argument("--episode-length", type=float, default=None, help="seconds; default: the policy's training setting")
    parser.add_argument("--checkpoint", default=None, help="also evaluate this checkpoint locally on the same seeds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes={args.episodes}: expected >= 1")
    token = os.environ[args.token_env] if args.token_env else None
    client = PolicyClient(args.url, args.policy, token=token, transport=args.transport, timeout_s=1.0, retries=2)
    card = client.card
    settings = dict(card["env_config"])
    if args.episode_length is not None:
        settings["episode_length_s"] = args.episode_length
    # A chunk policy answers settings["action_chunk"] control steps per call, so the loop calls it that much less often.
    rate_hz = args.rate_hz or card["control_frequency_hz"] / settings.get("action_chunk", 1)
    controller = PacedRemoteController(client, rate_hz)
    served = evaluate_controller(controller, card["env_id"], settings, args.episodes, args.seed)
    client.close()
    result = {"policy": args.policy, "policy_version": card["policy_version"], "transport": args.transport,
              "control_loop": controller.summary(), "served": served.to_dict()}
    if args.checkpoint:
        policy = Policy.from_checkpoint(args.checkpoint)
        local_version = checkpoint_version(resolve_checkpoint(args.checkpoint).resolve(), policy.card)
        if local_version != card["policy_version"]:
            parser.error(f"--checkpoint is {local_version}, but the server runs {card['policy_version']}")
        result["local"] = evaluate_policy(policy, settings, args.episodes, args.seed).to_dict()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
