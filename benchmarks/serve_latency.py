"""Policy endpoint latency and throughput against a bare FastAPI + torch server of the same module.

    python -m benchmarks.serve_latency --checkpoint runs/humanoid_curriculum [--seconds 10]

Both servers load the same checkpoint and do the same work per request (validate the observation
against the spec, forward pass, action scaling, safety filter, JSON answer): the bare server is one
uvicorn process running FastAPI with `serve.runtime.PolicyRuntime` and nothing else, so the ratio
is what Ray Serve costs. The endpoint runs as `python -m serve` does (serve.FAST_PATH_ENV: direct
ingress), and is measured on the policy's direct URL, on Serve's proxy port, and on its WebSocket
stream. Measured, on the same real observations from the humanoid environment:
  - sequential p50/p99 over one persistent connection;
  - 16 clients each paced at 50 Hz, p50/p99 (a fleet of robots on one server);
  - maximum actions/s: 64 unpaced concurrent clients (dynamic batching), and act_batch bodies;
  - memory (USS, RSS) of the policy replica, the catalog replica and the bare server.
"""


import argparse
import asyncio
import contextlib
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
        with contextlib.suppress(requests.ConnectionError):  # not listening yet
            if requests.get(url, timeout=2).status_code < 500:
                return
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


async def _stream_clients(url: str, bodies: list[bytes], clients: int, rate_hz: float, seconds: float) -> dict:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def robot(index: int):
        async with connect(url) as ws:
            next_tick = time.perf_counter() + (index / clients) / rate_hz
            i = index
            while time.perf_counter() < stop_at:
                delay = next_tick - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_tick += 1.0 / rate_hz
                start = time.perf_counter()
                await ws.send(bodies[i % len(bodies)].decode())
                await ws.recv()
                latencies.append(time.perf_counter() - start)
                i += 1

    started = time.perf_counter()
    await asyncio.gather(*(robot(k) for k in range(clients)))
    return {**percentiles(latencies), "requests_per_s": round(len(latencies) / (time.perf_counter() - started), 1)}


def concurrent_websocket(url, bodies, clients, rate_hz, seconds) -> dict:
    return asyncio.run(_stream_clients(url, bodies, clients, rate_hz, seconds))


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
    parser.add_argument("--batch-wait-ms", type=float, default=0.0)
    args = parser.parse_args()
    checkpoint = os.path.abspath(args.checkpoint)

    import requests

    from serve import FAST_PATH_ENV

    os.environ.update(FAST_PATH_ENV)  # before ray.init: the processes it starts read them
    import ray
    from ray import serve

    from serve.app import PolicySource, deploy

    bare_port, serve_port = free_port(), free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", BARE_APP, "--host", "127.0.0.1", "--port", str(bare_port),
         "--log-level", "warning"],
        env={**os.environ, "BENCH_CHECKPOINT": checkpoint},
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
    deploy([PolicySource("humanoid", checkpoint, 1, args.max_batch_size, args.batch_wait_ms / 1e3)])
    proxy = f"http://127.0.0.1:{serve_port}"
    bare_url = f"http://127.0.0.1:{bare_port}"
    try:
        wait_http(f"{proxy}/readyz")
        wait_http(f"{bare_url}/docs")
        card = requests.get(f"{proxy}/v1/policies").json()["policies"][0]
        direct = card["direct_urls"][0]
        bodies = observation_bodies(card, card["env_config"])
        fleet = f"{args.clients}_clients_at_{args.rate_hz:g}_hz"
        results = {"checkpoint": card["policy_version"], "cpu_count": os.cpu_count(), "direct_url": direct}

        def measure(act_url: str) -> dict:
            return {
                "sequential": sequential_http(act_url, bodies, args.sequential),
                fleet: concurrent_http(act_url, bodies, args.clients, args.rate_hz, args.seconds),
                "64_unpaced_clients": concurrent_http(act_url, bodies, 64, None, args.seconds),
            }

        results["bare_fastapi"] = measure(f"{bare_url}/v1/policies/humanoid/act")
        results["serve_direct_http"] = measure(f"{direct}/act")
        ws_url = direct.replace("http", "ws", 1) + "/stream"
        results["serve_direct_websocket"] = {
            "sequential": sequential_websocket(ws_url, bodies, args.sequential),
            fleet: concurrent_websocket(ws_url, bodies, args.clients, args.rate_hz, args.seconds),
        }
        results["serve_proxy_http"] = {"sequential": sequential_http(f"{proxy}/v1/policies/humanoid/act", bodies,
                                                                     args.sequential)}
        results["serve_act_batch_64"] = batch_throughput(f"{direct}/act_batch", bodies, 64, args.seconds)
        results["memory"] = {
            "policy_replica": process_memory("ServeReplica:policy-humanoid"),
            "catalog_replica": process_memory("ServeReplica:vla-ray:Catalog"),
            "bare_fastapi": process_memory(BARE_APP),
        }
        bare_p50 = results["bare_fastapi"]["sequential"]["p50_ms"]
        results["ratios"] = {
            f"{name}_sequential_p50_over_bare": round(results[name]["sequential"]["p50_ms"] / bare_p50, 2)
            for name in ("serve_direct_http", "serve_direct_websocket", "serve_proxy_http")
        }
        print(json.dumps(results, indent=2))
    finally:
        bare.terminate()
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
