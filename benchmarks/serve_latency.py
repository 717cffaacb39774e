"""Policy endpoint latency and throughput against a bare FastAPI + torch server of the same module.

    python -m benchmarks.serve_latency --checkpoint runs/humanoid_curriculum [--seconds 10]

Both servers load the same checkpoint and do the same work per request (validate the observation
against the spec, forward pass, action scaling, safety filter, JSON answer): the bare server is one
uvicorn process running FastAPI with `serve.runtime.PolicyRuntime` and nothing else, so the ratio
is what Ray Serve (gateway, handle call to the policy replica, batching) costs. Measured, on the
same real observations from the humanoid environment:
  - sequential p50/p99 over one persistent connection (HTTP; the endpoint's WebSocket stream too);
  - 16 clients each paced at 50 Hz, p50/p99 (a fleet of robots on one server);
  - maximum actions/s: many unpaced concurrent clients (dynamic batching), and act_batch bodies;
  - replica memory (USS, RSS) of the policy replica and the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import orjson

BARE_APP = "benchmarks.serve_latency:bare_app"


def bare_app():
    """The baseline: FastAPI + the same PolicyRuntime in one uvicorn process, no Ray."""
    import torch
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from serve.runtime import ActRequest, PolicyRuntime

    torch.set_num_threads(1)
    runtime = PolicyRuntime.load("bare", os.environ["BENCH_CHECKPOINT"])
    app = FastAPI()

    @app.post("/v1/policies/{name}/act")
    async def act(name: str, request: Request) -> Response:
        body = orjson.loads(await request.body())
        parts = runtime.validate(body["observation"], body.get("instruction"), body.get("image"))
        reply = runtime.act([ActRequest(parts, body.get("deterministic", True))])[0]
        return Response(orjson.dumps(reply), media_type="application/json")

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 180.0) -> None:
    import requests

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def percentiles(latencies_s: list[float]) -> dict:
    ms = np.asarray(latencies_s) * 1e3
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 3)}


def sequential_http(url: str, bodies: list[bytes], n: int) -> dict:
    import requests

    session, latencies = requests.Session(), []
    headers = {"Content-Type": "application/json"}
    for i in range(n + 50):
        start = time.perf_counter()
        response = session.post(url, data=bodies[i % len(bodies)], headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.text
        if i >= 50:  # warm-up
            latencies.append(elapsed)
    return percentiles(latencies)


def sequential_websocket(url: str, bodies: list[bytes], n: int) -> dict:
    from websockets.sync.client import connect

    latencies = []
    with connect(url) as ws:
        for i in range(n + 50):
            start = time.perf_counter()
            ws.send(bodies[i % len(bodies)].decode())
            reply = ws.recv()
            elapsed = time.perf_counter() - start
            assert b"error" not in (reply if isinstance(reply, bytes) else reply.encode())[:20], reply
            if i >= 50:
                latencies.append(elapsed)
    return percentiles(latencies)


async def _clients(url: str, bodies: list[bytes], clients: int, rate_hz: float | None, seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json"}) as session:

        async def robot(index: int):
            nonlocal errors
            next_tick = time.perf_counter() + (index / clients) / (rate_hz or 1e9)
            i = index
            while time.perf_counter() < stop_at:
                if rate_hz:
                    delay = next_tick - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_tick += 1.0 / rate_hz
                start = time.perf_counter()
                async with session.post(url, data=bodies[i % len(bodies)]) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - start)
                i += 1

        started = time.perf_counter()
        await asyncio.gather(*(robot(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return {**percentiles(latencies), "requests_per_s": round(len(latencies) / elapsed, 1), "errors": errors}


def concurrent_http(url, bodies, clients, rate_hz, seconds) -> dict:
    return asyncio.run(_clients(url, bodies, clients, rate_hz, seconds))


def batch_throughput(url: str, bodies: list[bytes], batch: int, seconds: float) -> dict:
    import requests

    payload = orjson.dumps({"requests": [orjson.loads(b) for b in (bodies * batch)[:batch]]})
    session, actions = requests.Session(), 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        response = session.post(url, data=payload, headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
        actions += batch
    return {"batch": batch, "actions_per_s": round(actions / (time.perf_counter() - started), 1)}


def process_memory(title_fragment: str) -> dict:
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if any(title_fragment in part for part in proc.info["cmdline"] or []):
            info = proc.memory_full_info()
            return {"uss_mb": round(info.uss / 2**20), "rss_mb": round(info.rss / 2**20)}
    return {}


def observation_bodies(card: dict, env_config: dict, count: int = 64) -> list[bytes]:
    """Real observations: the humanoid environment stepped with small random actions."""
    from envs.humanoid.env import HumanoidLocomotionVecEnv
    from serve.client import act_body

    env = HumanoidLocomotionVecEnv(num_envs=count, **env_config)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        obs, *_ = env.step(rng.uniform(-0.2, 0.2, (count, env.embodiment.action_dim)))
    env.close()
    return [orjson.dumps(act_body(card, {k: v[i] for k, v in obs.items()})) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="runs/humanoid_curriculum")
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrent measurement")
    parser.add_argument("--sequential", type=int, default=1000, help="requests per sequential measurement")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate-hz", type=float, default=50.0)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-wait-ms", type=float, default=1.0)
    args = parser.parse_args()
    checkpoint = os.path.abspath(args.checkpoint)

    import ray
    import requests
    from ray import serve

    from serve.app import PolicySource, build_application

    bare_port, serve_port = free_port(), free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", BARE_APP, "--host", "127.0.0.1", "--port", str(bare_port),
         "--log-level", "warning"],
        env={**os.environ, "BENCH_CHECKPOINT": checkpoint},
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
    serve.run(build_application([PolicySource("humanoid", checkpoint, 1, args.max_batch_size, args.batch_wait_ms / 1e3)]),
              name="vla-ray", route_prefix="/")
    endpoint = f"http://127.0.0.1:{serve_port}"
    bare_url = f"http://127.0.0.1:{bare_port}"
    try:
        wait_http(f"{endpoint}/readyz")
        wait_http(f"{bare_url}/docs")
        card = requests.get(f"{endpoint}/v1/policies").json()["policies"][0]
        bodies = observation_bodies(card, card["env_config"])
        act_path = "/v1/policies/humanoid/act"
        results = {"checkpoint": card["policy_version"], "cpu_count": os.cpu_count()}
        for name, base in (("bare_fastapi", bare_url), ("serve_endpoint", endpoint)):
            results[name] = {
                "sequential_http": sequential_http(base + act_path, bodies, args.sequential),
                f"{args.clients}_clients_at_{args.rate_hz:g}_hz": concurrent_http(
                    base + act_path, bodies, args.clients, args.rate_hz, args.seconds),
                "64_unpaced_clients": concurrent_http(base + act_path, bodies, 64, None, args.seconds),
            }
        ws_url = endpoint.replace("http", "ws") + "/v1/policies/humanoid/stream"
        results["serve_endpoint"]["sequential_websocket"] = sequential_websocket(ws_url, bodies, args.sequential)
        results["serve_endpoint"]["act_batch_64"] = batch_throughput(
            endpoint + "/v1/policies/humanoid/act_batch", bodies, 64, args.seconds)
        results["serve_endpoint"]["policy_replica_memory"] = process_memory("ServeReplica:vla-ray:policy-humanoid")
        results["serve_endpoint"]["gateway_memory"] = process_memory("ServeReplica:vla-ray:Gateway")
        results["bare_fastapi"]["process_memory"] = process_memory(BARE_APP)
        seq_ratio = (results["serve_endpoint"]["sequential_http"]["p50_ms"]
                     / results["bare_fastapi"]["sequential_http"]["p50_ms"])
        results["ratios"] = {
            "sequential_p50_serve_over_bare": round(seq_ratio, 2),
            "sequential_p50_websocket_over_bare_http": round(
                results["serve_endpoint"]["sequential_websocket"]["p50_ms"]
                / results["bare_fastapi"]["sequential_http"]["p50_ms"], 2),
        }
        print(json.dumps(results, indent=2))
    finally:
        bare.terminate()
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
