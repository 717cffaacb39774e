"""Serve trained policies over HTTP from checkpoint paths:

    python -m serve --policy humanoid=runs/humanoid_curriculum [--policy other=path ...]

Starts (or joins, with RAY_ADDRESS) a Ray cluster, deploys one PolicyDeployment per
checkpoint behind the Gateway, prints the endpoint and blocks until interrupted. The
same application is declared in serve/config.yaml for `serve run` / `serve deploy`.
"""

from __future__ import annotations

import argparse
import os
import threading

from serve import FAST_PATH_ENV
from serve.app import POLICY_ROUTE, PolicySource, deploy
from serve.protocol import HTTPSettings
from vla_ray.checkpoints import resolve_checkpoint


def policy_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=CHECKPOINT_OR_RUN_DIR")
    return name, path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=policy_arg, action="append", required=True, metavar="NAME=PATH",
                        help="a policy name and its checkpoint (or run directory); repeat for several")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--replicas", type=int, default=1, help="replicas per policy")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-wait-ms", type=float, default=0.0,
                        help="how long a replica waits to fill a batch (0: batch only what queued meanwhile)")
    parser.add_argument("--token-env", default=None,
                        help="require 'Authorization: Bearer <token>' with the token read from this environment variable")
    args = parser.parse_args(argv)
    policies = [
        PolicySource(name, os.path.abspath(path), args.replicas, args.max_batch_size, args.batch_wait_ms / 1000.0)
        for name, path in args.policy
    ]
    settings = HTTPSettings(token_env=args.token_env)
    # Fail here with one line, not later in every replica.
    try:
        settings.token()
        for policy in policies:
            resolve_checkpoint(policy.checkpoint)
    except (RuntimeError, FileNotFoundError) as error:
        parser.error(str(error))

    import ray
    from ray import serve

    address = os.environ.get("RAY_ADDRESS", "local")
    if address == "local":
        # The Ray started here runs Serve's low-latency path; a cluster must be started with FAST_PATH_ENV.
        for key, value in FAST_PATH_ENV.items():
            os.environ.setdefault(key, value)
    ray.init(address=address)
    serve.start(http_options={"host": args.host, "port": args.port})
    deploy(policies, settings)
    base = f"http://{args.host}:{args.port}"
    print(f"policies: {base}{POLICY_ROUTE}  (OpenAPI docs: {base}/docs, per policy {base}{POLICY_ROUTE}/<name>/docs)")
    for policy in policies:
        print(f"  {policy.name}: POST {base}{POLICY_ROUTE}/{policy.name}/act   WS {POLICY_ROUTE}/{policy.name}/stream")
    print("direct (proxy-free) URLs of each policy replica are listed under direct_urls in the catalog", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        serve.shutdown()


if __name__ == "__main__":
    main()
