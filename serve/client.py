"""A client for the policy endpoint, for robot control loops written in Python (and the tests and benchmarks).

    client = PolicyClient("http://127.0.0.1:8000", "humanoid")
    reply = client.act(observation)          # observation: the environment's named parts (numpy arrays)
    joint_targets = reply["action"]

`base_url` is Serve's proxy port, which routes every path. When the catalog lists a policy's
direct URLs (Serve's direct ingress: the replica's own HTTP server, one hop less), the client
talks to the first of them. HTTP keeps one persistent connection; `transport="websocket"`
streams over one WebSocket. Transient failures (a replica restarting: 503, a dropped
connection) are retried with backoff up to `retries` times, re-reading the catalog in case the
replica came back on another port; client errors (4xx) are raised at once.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import time

import numpy as np
import orjson
import requests
from websockets.exceptions import ConnectionClosed

from vla_ray.language import decode_instruction

TRANSPORTS = ("http", "websocket")
logger = logging.getLogger("vla_ray.serve.client")


class PolicyError(RuntimeError):
    def __init__(self, status: int, body: dict):
        detail = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status} {detail.get('field', '')}: {detail.get('message', body)}")
        self.status, self.body = status, body


def png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def act_body(card: dict, observation: dict, instruction: str | None = None, deterministic: bool = True) -> dict:
    """The act request body for one environment observation, with exactly the parts the policy lists."""
    body = {
        "observation": {p["name"]: np.asarray(observation[p["name"]]).tolist() for p in card["observation"]},
        "deterministic": deterministic,
    }
    if card["takes_instruction"]:
        if instruction is None and "instruction" in observation:
            instruction = decode_instruction(observation["instruction"])
        body["instruction"] = instruction
    if card["takes_image"]:
        body["image"] = png_base64(observation["camera_rgb"])
    return body


class PolicyClient:
    def __init__(self, base_url: str, policy: str, token: str | None = None, transport: str = "http",
                 timeout_s: float = 1.0, retries: int = 0, retry_backoff_s: float = 0.2, direct: bool = True):
        if transport not in TRANSPORTS:
            raise ValueError(f"transport={transport!r}: expected one of {TRANSPORTS}")
        self.base_url = base_url.rstrip("/")
        self.policy, self.transport, self.timeout_s, self.direct = policy, transport, timeout_s, direct
        self.retries, self.retry_backoff_s = retries, retry_backoff_s
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = requests.Session()
        self._socket = None
        self._socket_scope = contextlib.ExitStack()
        self._discover()

    def _discover(self) -> None:
        self.card = self._policy_card()
        direct = self.card.get("direct_urls") or []
        self.policy_url = direct[0] if self.direct and direct else f"{self.base_url}/v1/policies/{self.policy}"

    def _policy_card(self) -> dict:
        response = self.session.get(f"{self.base_url}/v1/policies", headers=self.headers, timeout=self.timeout_s * 10)
        body = response.json()
        if response.status_code != 200:
            raise PolicyError(response.status_code, body)
        for card in body["policies"]:
            if card["name"] == self.policy:
                return card
        raise PolicyError(404, {"error": {"field": "name", "message": f"{self.policy!r} not served (loading: {body['loading']})"}})

    def act(self, observation: dict, instruction: str | None = None, deterministic: bool = True) -> dict:
        """The server's reply (action, normalized_action, safety, policy_version) for one observation."""
        return self.send(act_body(self.card, observation, instruction, deterministic))

    def send(self, body: dict) -> dict:
        payload = orjson.dumps(body)
        attempt = 0
        while True:
            try:
                status, reply = self._send_once(payload)
            except (requests.ConnectionError, requests.Timeout, OSError, ConnectionClosed):
                self._drop_socket()
                if attempt >= self.retries:
                    raise
                self._rediscover()
            else:
                if status == 200:
                    return reply
                if status != 503 or attempt >= self.retries:
                    raise PolicyError(status, reply)
            time.sleep(min(self.retry_backoff_s * 2**attempt, 2.0))
            attempt += 1

    def _rediscover(self) -> None:
        """After a dropped connection: the replica may have restarted on another port, or not be back yet."""
        try:
            self._discover()
        except (requests.RequestException, PolicyError, ValueError) as error:
            # The catalog is unreachable or the policy still loading: the next attempt tries again.
            logger.info("policy %s not found again yet: %s", self.policy, error)

    def _send_once(self, payload: bytes) -> tuple[int, dict]:
        if self.transport == "http":
            response = self.session.post(
                f"{self.policy_url}/act", data=payload, timeout=self.timeout_s,
                headers={**self.headers, "Content-Type": "application/json"},
            )
            return response.status_code, orjson.loads(response.content)
        socket = self._connect()
        socket.send(payload.decode())
        reply = orjson.loads(socket.recv(timeout=self.timeout_s))
        return (reply["error"]["status"], reply) if "error" in reply else (200, reply)

    def _connect(self):
        if self._socket is None:
            from websockets.sync.client import connect

            url = "ws" + self.policy_url.removeprefix("http") + "/stream"
            # Entered through an ExitStack: websockets wants its connections used as context managers.
            self._socket = self._socket_scope.enter_context(
                connect(url, additional_headers=self.headers, open_timeout=self.timeout_s * 10))
        return self._socket

    def _drop_socket(self) -> None:
        self._socket_scope.close()
        self._socket = None

    def close(self) -> None:
        self._drop_socket()
        self.session.close()
