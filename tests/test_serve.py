"""The policy server over real HTTP and WebSocket against a running Serve application: listing, act round
trip, parity with the locally computed command, fail-closed validation, batching, streaming, tokens,
readiness and recovery from a killed replica."""

import base64
import json
import os
import threading
import time

import numpy as np
import pytest
import requests
from ray import serve

import envs
from conftest import free_port, write_policy_checkpoint
from envs.humanoid.env import HumanoidLocomotionVecEnv
from serve.app import PolicySource, deploy
from serve.client import PolicyClient, PolicyError, act_body
from serve.protocol import HTTPSettings
from vla_ray.control import JointCommander
from vla_ray.embodiment import HUMANOID
from vla_ray.policy import Policy

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOKEN_ENV = "VLA_RAY_TEST_SERVE_TOKEN"
# Read by the replicas, which inherit the environment of the Ray started by this session (the documented way:
# set the variable where Ray starts). Set at import, before any fixture starts Ray.
os.environ.setdefault(TOKEN_ENV, "test-token-3b1f")
TOKEN = os.environ[TOKEN_ENV]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FLOAT32_ATOL = 1e-5
WALK = {"task": "walk", "target_velocity_mps": 0.5}
VISION = {"task": "stand", "camera": "track", "camera_size": (24, 24), "history_length": 3}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    return {"walker": write_policy_checkpoint(root / "walker", **WALK),
            "viewer": write_policy_checkpoint(root / "viewer", **VISION)}


@pytest.fixture(scope="module")
def server(ray_session, checkpoints):
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    deploy([PolicySource("walker", str(checkpoints["walker"].parent)), PolicySource("viewer", str(checkpoints["viewer"]))],
           HTTPSettings(token_env=TOKEN_ENV), wait=False)
    url = f"http://127.0.0.1:{port}"
    READINESS.extend(wait_ready(url))
    yield url
    serve.shutdown()


READINESS: list[tuple[int, list]] = []  # (status, loading) of each /readyz answer while the server started


def wait_ready(url, timeout_s=120):
    """Poll /readyz until 200; the answers seen on the way."""
    seen = []
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            response = requests.get(f"{url}/readyz", timeout=2)
        except (requests.ConnectionError, requests.Timeout):  # the proxy has no catalog replica to route to yet
            time.sleep(0.2)
            continue
        if response.status_code in (200, 503):
            seen.append((response.status_code, response.json()["loading"]))
            if response.status_code == 200:
                return seen
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout_s} s: {seen}")


def test_readiness_is_false_until_every_policy_has_loaded(server):
    statuses = [status for status, _ in READINESS]
    assert statuses[-1] == 200 and READINESS[-1][1] == []
    # While the checkpoints loaded, the catalog already answered: not ready, naming what it waits for.
    assert statuses[0] == 503 and set(READINESS[0][1]) <= {"walker", "viewer"} and READINESS[0][1]


def env_observations(settings, steps=4, num_envs=5):
    env = HumanoidLocomotionVecEnv(num_envs=num_envs, **settings)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-0.3, 0.3, (num_envs, 32)))
    env.close()
    return [{k: v[i] for k, v in obs.items()} for i in range(num_envs)]


def local_command(checkpoint, observations):
    """What the module and the shared commander give for these observations, computed in this process."""
    policy = Policy.from_checkpoint(checkpoint)
    batch = {k: np.stack([o[k] for o in observations]) for k in observations[0] if k != "privileged"}
    embodiment = envs.policy_interface(policy.card.env_id, policy.card.env_config).embodiment
    return JointCommander(embodiment)(policy.act(batch, deterministic=True), batch["joint_pos"])


@pytest.fixture(scope="module")
def walker_card(server):
    return PolicyClient(server, "walker", token=TOKEN).card


def post(url, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Content-Type": "application/json", **AUTH, **kwargs.pop("headers", {})}
    return requests.post(url, data=data, headers=headers, timeout=10, **kwargs)


def test_listing_describes_each_policy_schema(server):
    body = requests.get(f"{server}/v1/policies", headers=AUTH, timeout=10).json()
    assert body["loading"] == []
    cards = {c["name"]: c for c in body["policies"]}
    assert set(cards) == {"walker", "viewer"}
    walker = cards["walker"]
    parts = {p["name"]: p for p in walker["observation"]}
    assert list(parts) == ["joint_pos", "joint_vel", "imu", "contacts", "force_torque", "command", "prev_action"]
    assert parts["joint_vel"]["shape"] == [32] and parts["joint_vel"]["unit"] == "rad/s"
    assert walker["action"]["names"] == list(HUMANOID.joint_names)
    assert len(walker["action"]["low"]) == 32 and walker["action"]["units"][0] == "rad"
    assert walker["control_frequency_hz"] == 50.0
    assert walker["default_instruction"] == "walk forward at 0.5 m/s"
    assert walker["policy_version"].startswith("policy_iter7@iter7-")
    assert cards["viewer"]["takes_image"] and "proprio_history" in {p["name"] for p in cards["viewer"]["observation"]}
    # Serve's direct ingress (FAST_PATH_ENV, set by conftest) gives each policy replica its own URL.
    assert walker["direct_urls"] and walker["direct_urls"][0].endswith("/v1/policies/walker")
    assert requests.get(f"{server}/v1/policies/walker/openapi.json", timeout=10).json()["paths"]["/act"]
    assert "/v1/policies" in requests.get(f"{server}/openapi.json", timeout=10).json()["paths"]


def test_served_action_equals_the_locally_computed_command(server, checkpoints, walker_card):
    observations = env_observations(WALK)
    expected = local_command(checkpoints["walker"], observations)
    client = PolicyClient(server, "walker", token=TOKEN)
    for i, obs in enumerate(observations):
        reply = client.act(obs)
        # float32 forward passes: summation order differs between a batch of 5 here and a batch of 1 there.
        np.testing.assert_allclose(reply["action"], expected.targets[i], rtol=0, atol=FLOAT32_ATOL)
        np.testing.assert_allclose(reply["normalized_action"], expected.normalized[i], rtol=0, atol=FLOAT32_ATOL)
        assert reply["safety"]["intervened"] == bool(expected.safety.intervened[i])
        assert sorted(reply["safety"]["velocity_clamped"]) == sorted(
            np.asarray(walker_card["action"]["names"])[expected.safety.velocity_clamped[i]].tolist())
    # The scaled-up test policy pushes joints faster than the velocity bound allows: the filter reports it.
    assert expected.safety.velocity_clamped.any()


def test_vision_policy_takes_a_png_image_and_matches_the_local_command(server, checkpoints):
    observations = env_observations(VISION, num_envs=2)
    expected = local_command(checkpoints["viewer"], observations)
    client = PolicyClient(server, "viewer", token=TOKEN, transport="websocket")
    for i, obs in enumerate(observations):
        np.testing.assert_allclose(client.act(obs)["action"], expected.targets[i], rtol=0, atol=FLOAT32_ATOL)
    client.close()


def test_batch_answers_in_order_and_equals_single_requests(server, walker_card):
    observations = env_observations(WALK)
    bodies = [act_body(walker_card, o) for o in observations]
    batch = post(f"{server}/v1/policies/walker/act_batch", {"requests": bodies}).json()["results"]
    singles = [post(f"{server}/v1/policies/walker/act", b).json() for b in bodies]
    np.testing.assert_allclose([r["action"] for r in batch], [r["action"] for r in singles], rtol=0, atol=FLOAT32_ATOL)


def test_websocket_stream_answers_every_message_and_survives_a_bad_one(server, walker_card):
    from websockets.sync.client import connect

    observations = env_observations(WALK, num_envs=3)
    with connect(server.replace("http", "ws") + "/v1/policies/walker/stream", additional_headers=AUTH) as ws:
        ws.send(json.dumps(act_body(walker_card, observations[0])))
        first = json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"observation": {"joint_pos": [0.0]}}))
        error = json.loads(ws.recv(timeout=10))
        ws.send(json.dumps(act_body(walker_card, observations[0])))
        again = json.loads(ws.recv(timeout=10))
    assert error["error"]["status"] == 422 and error["error"]["field"].startswith("observation.")
    assert first["action"] == again["action"]


def valid_body(card):
    return act_body(card, env_observations(WALK, steps=1, num_envs=1)[0])


def mutate(body, path, value):
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


DELETE = object()
BAD_INPUTS = [
    # (name, path, value, status, field)
    ("missing part", ("observation", "imu"), DELETE, 422, "observation.imu"),
    ("extra part", ("observation", "privileged"), [0.0] * 4, 422, "observation.privileged"),
    ("wrong shape", ("observation", "joint_pos"), [0.0] * 31, 422, "observation.joint_pos"),
    ("nested shape", ("observation", "contacts"), [[0.0, 1.0], [1.0, 0.0]], 422, "observation.contacts"),
    ("string values", ("observation", "joint_vel"), ["fast"] * 32, 422, "observation.joint_vel"),
    ("booleans", ("observation", "contacts"), [True, False, True, False], 422, "observation.contacts"),
    ("null value", ("observation", "command"), None, 422, "observation.command"),
    ("NaN", ("observation", "joint_vel", 3), float("nan"), 422, "observation.joint_vel"),
    ("infinity", ("observation", "imu", 0), float("inf"), 422, "observation.imu"),
    ("outside the space", ("observation", "contacts", 0), 2.0, 422, "observation.contacts"),
    ("joint velocity beyond the sensor range", ("observation", "joint_vel", 0), 1e6, 422, "observation.joint_vel"),
    ("observation not an object", ("observation",), [1, 2, 3], 422, "observation"),
    ("no observation", ("observation",), DELETE, 422, "observation"),
    ("unknown field", ("temperature",), 20, 422, "temperature"),
    ("deterministic not a bool", ("deterministic",), "yes", 422, "deterministic"),
    ("instruction too long", ("instruction",), "walk " * 40, 422, "instruction"),
    ("instruction not text", ("instruction",), 5, 422, "instruction"),
    ("image for a blind policy", ("image",), base64.b64encode(b"\x89PNG").decode(), 422, "image"),
]


@pytest.mark.parametrize("name,path,value,status,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_with_its_status_and_field(server, walker_card, name, path, value, status, field):
    response = post(f"{server}/v1/policies/walker/act", mutate(valid_body(walker_card), path, value))
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert "Traceback" not in response.text


def test_malformed_bodies_unknown_policies_and_oversized_bodies_fail_closed(server, walker_card):
    assert post(f"{server}/v1/policies/walker/act", b"{not json").status_code == 400
    response = post(f"{server}/v1/policies/runner/act", valid_body(walker_card))
    assert response.status_code == 404 and response.json()["error"]["field"] == "name"
    huge = post(f"{server}/v1/policies/walker/act", b'{"observation": "' + b"x" * (2 << 20) + b'"}')
    assert huge.status_code == 413 and huge.json()["error"]["field"] == "body"
    too_many = post(f"{server}/v1/policies/walker/act_batch", {"requests": [valid_body(walker_card)] * 257})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "requests"
    bad_item = post(f"{server}/v1/policies/walker/act_batch",
                    {"requests": [valid_body(walker_card), mutate(valid_body(walker_card), ("observation", "imu"), [])]})
    assert bad_item.status_code == 422 and bad_item.json()["error"]["field"] == "requests[1].observation.imu"
    viewer = PolicyClient(server, "viewer", token=TOKEN).card
    body = act_body(viewer, env_observations(VISION, steps=1, num_envs=1)[0])
    body["image"] = base64.b64encode(b"not an image").decode()
    assert post(f"{server}/v1/policies/viewer/act", body).json()["error"]["field"] == "image"


def test_a_bad_request_does_not_disturb_concurrent_good_ones(server, walker_card):
    good = valid_body(walker_card)
    expected = post(f"{server}/v1/policies/walker/act", good).json()["action"]
    bad = mutate(good, ("observation", "joint_vel", 0), float("nan"))
    results, errors = [], []

    def worker(body, sink):
        session = requests.Session()
        for _ in range(20):
            sink.append(session.post(f"{server}/v1/policies/walker/act", data=json.dumps(body), headers=AUTH, timeout=10))

    threads = [threading.Thread(target=worker, args=(good if i % 2 else bad, results if i % 2 else errors))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and all(r.status_code == 200 for r in results)
    # Concurrent good requests are batched together, hence float32 tolerance rather than equality.
    np.testing.assert_allclose([r.json()["action"] for r in results], [expected] * 80, rtol=0, atol=FLOAT32_ATOL)
    assert len(errors) == 80 and all(r.status_code == 422 for r in errors)


def test_bearer_token_is_required_when_configured(server, walker_card):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    assert requests.get(f"{server}/v1/policies", timeout=10).status_code == 401
    assert requests.get(f"{server}/v1/policies", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    direct = walker_card["direct_urls"][0]
    for base in (f"{server}/v1/policies/walker", direct):
        refused = requests.post(f"{base}/act", json=valid_body(walker_card), timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["field"] == "authorization"
    with pytest.raises(PolicyError) as refused:
        PolicyClient(server, "walker")
    assert refused.value.status == 401
    with pytest.raises((InvalidStatus, ConnectionError)):
        with connect(direct.replace("http", "ws") + "/stream", additional_headers={"Authorization": "Bearer no"}) as ws:
            ws.recv(timeout=10)
    assert requests.get(f"{server}/healthz", timeout=10).status_code == 200  # probes need no token


def walker_replicas():
    import ray

    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["namespace"] == "serve" and "policy-walker#policy-walker#" in a["name"])


def test_a_killed_policy_replica_comes_back_and_a_retrying_client_succeeds(server):
    import ray

    client = PolicyClient(server, "walker", token=TOKEN, timeout_s=5.0, retries=40, retry_backoff_s=0.1)
    observation = env_observations(WALK, 1, 1)[0]
    before = client.act(observation)
    replicas = walker_replicas()
    assert len(replicas) == 1
    replica = ray.get_actor(replicas[0], namespace="serve")
    ray.kill(replica, no_restart=True)
    with pytest.raises(ray.exceptions.RayActorError):  # the replica process is gone before the client asks
        ray.get(replica.__ray_call__.remote(lambda self: None), timeout=30)
    started = time.time()
    after = client.act(observation)  # retries through the restart (connection errors, 503), re-reading the catalog
    recovered_s = time.time() - started
    np.testing.assert_allclose(after["action"], before["action"], rtol=0, atol=FLOAT32_ATOL)
    assert recovered_s < 60
    print(f"recovered after {recovered_s:.1f} s")
    deadline = time.time() + 30
    while walker_replicas() in ([], replicas) and time.time() < deadline:
        time.sleep(0.5)
    assert len(walker_replicas()) == 1 and walker_replicas() != replicas
    # While no replica ran, the catalog listed the proxy's URL; it lists the new replica's own one again.
    while time.time() < deadline and PolicyClient(server, "walker", token=TOKEN).policy_url.startswith(server):
        time.sleep(0.5)
    assert not PolicyClient(server, "walker", token=TOKEN).policy_url.startswith(server)
    assert PolicyClient(server, "walker", token=TOKEN).act(observation)["policy_version"] == before["policy_version"]


def test_serve_client_runs_the_robot_loop_and_reports_the_local_evaluation_metrics(server, checkpoints):
    import subprocess
    import sys

    command = [sys.executable, "experiments/serve_client.py", "--url", server, "--policy", "walker", "--episodes", "2",
               "--episode-length", "0.5", "--token-env", TOKEN_ENV, "--checkpoint", str(checkpoints["walker"])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    loop = report["control_loop"]
    assert loop["steps"] == report["served"]["episodes"] * 25 and loop["target_rate_hz"] == 50.0
    assert {"p50", "p90", "p99", "max"} <= set(loop["latency_ms"]) and loop["achieved_rate_hz"] > 0
    served, local = report["served"], report["local"]
    # Same seeds, same policy: the served rollout reproduces local evaluation (float32 batching differences aside).
    assert served["falls"] == local["falls"] and served["success_rate"] == local["success_rate"]
    assert served["mean_return"] == pytest.approx(local["mean_return"], rel=1e-3)
    assert served["safety_intervention_steps"] == local["safety_intervention_steps"]
