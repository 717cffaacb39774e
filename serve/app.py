"""The Ray Serve applications: one per checkpoint (`policy-<name>`, its own deployment), plus a catalog.

    GET  /v1/policies                       catalog: the served policies, their schemas and direct URLs
    GET  /healthz, /readyz                  catalog: liveness; readiness (503 until every policy has loaded)
    POST /v1/policies/{name}/act            policy app: one observation -> one safe command
    POST /v1/policies/{name}/act_batch      policy app: many observations -> many commands, one forward pass
    WS   /v1/policies/{name}/stream         policy app: one observation per message on a persistent connection

Each policy is the ingress of its own application (route prefix /v1/policies/<name>): the request is
validated, batched with concurrent ones (@serve.batch) and answered in the replica that holds the model,
with no second actor hop (measured: a handle call to a model deployment added 3-5 ms and collapsed under
16 robots at 50 Hz). With Serve's direct ingress on (serve.FAST_PATH_ENV) each policy replica also answers
on its own port, which the catalog lists as `direct_urls`; Serve's proxy port routes every path.
"""

import asyncio
import dataclasses
import os
from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from ray import serve

from serve.protocol import (
    ERROR_RESPONSES,
    WS_CLOSE_CODES,
    HTTPSettings,
    answer,
    authorize,
    client_error,
    json_response,
    logger,
    parse_json,
    read_json,
    request_schema,
)
from serve.runtime import ActRequest, PolicyRuntime
from serve.schemas import ActBody, ActResponse, BatchBody, BatchResponse, ErrorBody
from serve.validation import RequestError, invalid
from vla_ray.configs import checked_keys

POLICY_ROUTE = "/v1/policies"
CATALOG_APP = "vla-ray"
# Per-request access logs are forwarded to the driver: measured, they doubled the median latency.
QUIET = {"enable_access_log": False}

policy_api = FastAPI(title="vla-ray policy", version="1",
                     description="One trained policy: observations in, safe joint commands out.")
catalog_api = FastAPI(title="vla-ray policy server", version="1",
                      description="The served policies, their observation and action schemas, health.")


def policy_app_name(name: str) -> str:
    return f"policy-{name}"


@dataclass(frozen=True)
class PolicySource:
    name: str  # URL segment: /v1/policies/{name}
    checkpoint: str  # a checkpoint directory, or a run directory (its LATEST checkpoint)
    num_replicas: int = 1
    max_batch_size: int = 64
    # How long a replica waits to fill a batch. 0: no added latency; requests that queue while a batch runs
    # still form the next batch (measured: 1 ms of waiting cost 1.6 ms at the sequential median, for nothing).
    batch_wait_timeout_s: float = 0.0

    def __post_init__(self):
        if not self.name or not self.name.replace("-", "_").isidentifier():
            raise ValueError(f"PolicySource.name={self.name!r}: expected letters, digits, '_' or '-'")
        for field in ("num_replicas", "max_batch_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"PolicySource({self.name}).{field}={getattr(self, field)}: expected >= 1")
        if not 0 <= self.batch_wait_timeout_s <= 0.02:
            raise ValueError(
                f"PolicySource({self.name}).batch_wait_timeout_s={self.batch_wait_timeout_s}: expected within "
                "[0, 0.02] s (a 50 Hz loop has 20 ms per step)"
            )


def act_fields(body, prefix: str = "") -> tuple[dict, str | None, str | None, bool]:
    if not isinstance(body, dict):
        raise invalid(prefix.rstrip(".") or "body", "expected a JSON object")
    extra = sorted(set(body) - set(ActBody.model_fields))
    if extra:
        raise invalid(f"{prefix}{extra[0]}", f"unknown field: expected {sorted(ActBody.model_fields)}")
    deterministic = body.get("deterministic", True)
    if not isinstance(deterministic, bool):
        raise invalid(f"{prefix}deterministic", "expected true or false")
    if "observation" not in body:
        raise invalid(f"{prefix}observation", "missing")
    return body["observation"], body.get("instruction"), body.get("image"), deterministic


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=512, health_check_period_s=2.0,
                  logging_config=QUIET)
@serve.ingress(policy_api)
class PolicyEndpoint:
    """One checkpoint, validated and answered in the replica that holds its model."""

    def __init__(self, source: PolicySource, settings: HTTPSettings = HTTPSettings()):
        import torch

        # Small batches on a shared CPU: intra-op threads only add synchronization.
        torch.set_num_threads(1)
        self.settings = settings
        self.token = settings.token()
        self.runtime = PolicyRuntime.load(source.name, source.checkpoint)
        self._act.set_max_batch_size(source.max_batch_size)
        self._act.set_batch_wait_timeout_s(source.batch_wait_timeout_s)

    def card(self) -> dict:
        return self.runtime.describe()

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.0)
    async def _act(self, requests: list[ActRequest]) -> list[dict]:
        return self.runtime.act(requests)

    def _validated(self, body, prefix: str = "") -> ActRequest:
        observation, instruction, image, deterministic = act_fields(body, prefix)
        return ActRequest(self.runtime.validate(observation, instruction, image, prefix), deterministic)

    @policy_api.get("/", summary="This policy's observation and action schemas")
    async def describe(self, request: Request) -> Response:
        async def work():
            return self.runtime.describe()

        return await answer(self.token, request, work)

    @policy_api.post("/act", summary="One observation -> one safe joint command", response_model=ActResponse,
                     openapi_extra=request_schema(ActBody), responses=ERROR_RESPONSES)
    async def act(self, request: Request) -> Response:
        async def work():
            return await self._act(self._validated(await read_json(request, self.settings.max_body_bytes)))

        return await answer(self.token, request, work)

    @policy_api.post("/act_batch", summary="Many observations -> many commands in one forward pass",
                     response_model=BatchResponse, openapi_extra=request_schema(BatchBody), responses=ERROR_RESPONSES)
    async def act_batch(self, request: Request) -> Response:
        async def work():
            body = await read_json(request, self.settings.max_body_bytes)
            items = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(items, list) or not items:
                raise invalid("requests", "expected a non-empty list of act bodies")
            if len(items) > self.settings.max_batch_requests:
                raise invalid("requests", f"{len(items)} observations: the limit is {self.settings.max_batch_requests}")
            return {"results": self.runtime.act([self._validated(item, f"requests[{i}].") for i, item in enumerate(items)])}

        return await answer(self.token, request, work)

    @policy_api.websocket("/stream")
    async def stream(self, websocket: WebSocket) -> None:
        """Each text message is an act body; each reply is an act response or an error body. Errors do not
        close the stream; a missing or wrong token closes it at the handshake."""
        try:
            authorize(self.token, websocket.headers.get("authorization"))
        except RequestError as error:
            await websocket.close(code=WS_CLOSE_CODES[error.status], reason=error.message[:120])
            return
        await websocket.accept()
        cap = self.settings.max_body_bytes
        try:
            while True:
                message = await websocket.receive_text()
                try:
                    if len(message) > cap:
                        raise RequestError(413, "body", f"{len(message)} bytes: the limit is {cap}")
                    reply = await self._act(self._validated(parse_json(message)))
                except Exception as error:  # noqa: BLE001 -- answered on the stream, which stays open
                    reply = client_error(error, websocket.url.path).to_dict()
                await websocket.send_bytes(orjson.dumps(reply))
        except WebSocketDisconnect:
            return


# Defined before the ingress classes: @serve.ingress serializes them as they are declared.
async def direct_urls() -> dict[str, list[str]]:
    """Per application, the URLs of its replicas' own HTTP servers when direct ingress is on (else none).
    The controller's serve-instance details are what `serve status` and the dashboard's REST API report."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    details = await controller.get_serve_instance_details.remote()
    # Replicas bind the proxy's host; the targets carry the node's IP, which a loopback bind does not answer on.
    host = (details.get("http_options") or {}).get("host", "")
    urls: dict[str, list[str]] = {}
    for group in details.get("target_groups", []):
        if group.get("protocol") == "HTTP" and group.get("app_name", "").startswith("policy-"):
            urls[group["app_name"]] = [
                f"http://{t['ip'] if host in ('0.0.0.0', '::', '') else host}:{t['port']}{group['route_prefix']}"
                for t in group["targets"]
            ]
    return urls


@serve.deployment(ray_actor_options={"num_cpus": 0}, health_check_period_s=2.0, logging_config=QUIET)
@serve.ingress(catalog_api)
class Catalog:
    """Lists the policy applications and answers for paths no policy application owns."""

    async def __init__(self, names: list[str], settings: HTTPSettings = HTTPSettings()):
        self.names = list(names)
        self.token = settings.token()
        self.cards: dict[str, dict] = {}
        # Not awaited: /healthz and /readyz (503) answer while the policy applications load.
        self._loader = asyncio.create_task(self._load_cards())

    async def _load_cards(self):
        for name in self.names:
            while name not in self.cards:
                try:
                    handle = serve.get_app_handle(policy_app_name(name))
                    self.cards[name] = await handle.card.remote()
                except Exception as error:  # noqa: BLE001 -- the application is still being deployed
                    logger.debug("policy %s not ready yet: %s", name, error)
                    await asyncio.sleep(0.5)

    def _loading(self) -> list[str]:
        return [n for n in self.names if n not in self.cards]

    async def _listing(self) -> dict:
        urls = await direct_urls()
        return {
            "policies": [{**self.cards[n], "direct_urls": urls.get(policy_app_name(n), [])} for n in sorted(self.cards)],
            "loading": self._loading(),
        }

    @catalog_api.get("/healthz", summary="Liveness: the catalog answers")
    async def healthz(self) -> Response:
        return json_response({"status": "alive"})

    @catalog_api.get("/readyz", summary="Readiness: 503 until every policy has loaded")
    async def readyz(self) -> Response:
        loading = self._loading()
        response = json_response({"ready": not loading, "loading": loading}, 503 if loading else 200)
        if loading:
            response.headers["Retry-After"] = "1"
        return response

    @catalog_api.get(POLICY_ROUTE, summary="The served policies with their observation and action schemas",
                     responses={401: {"model": ErrorBody}})
    async def policies(self, request: Request) -> Response:
        async def work():
            return await self._listing()

        return await answer(self.token, request, work)

    @catalog_api.api_route(POLICY_ROUTE + "/{name}/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def not_a_policy(self, name: str, request: Request) -> Response:
        """Reached only for names no policy application owns (yet): unknown (404) or still loading (503)."""
        async def work():
            if name in self.names:
                raise RequestError(503, "name", f"policy {name!r} is still loading")
            raise RequestError(404, "name", f"no policy {name!r}: served policies are {sorted(self.names)}")

        return await answer(self.token, request, work)


def build_applications(policies: list[PolicySource], settings: HTTPSettings = HTTPSettings()) -> dict:
    """{application name: (application, route prefix)}: one application per checkpoint, and the catalog."""
    names = [p.name for p in policies]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"policies {names}: expected at least one, with distinct names")
    apps = {CATALOG_APP: (Catalog.bind(names, settings), "/")}
    for p in policies:
        endpoint = PolicyEndpoint.options(name=f"policy-{p.name}", num_replicas=p.num_replicas).bind(p, settings)
        apps[policy_app_name(p.name)] = (endpoint, f"{POLICY_ROUTE}/{p.name}")
    return apps


def deploy(policies: list[PolicySource], settings: HTTPSettings = HTTPSettings(), wait: bool = True) -> None:
    """Deploy every application on the connected Ray cluster (serve.start first to choose host and port).
    wait=False returns once the deployments exist; /readyz then says when the checkpoints have loaded."""
    targets = [serve.RunTarget(target=app, name=name, route_prefix=prefix)
               for name, (app, prefix) in build_applications(policies, settings).items()]
    serve.run_many(targets, wait_for_applications_running=wait)


def policy_builder(args: dict):
    """`serve run` / `serve deploy` entry of one policy application (serve/config.yaml)."""
    values = dict(args)
    settings = HTTPSettings(**checked_keys(HTTPSettings, values.pop("http", {}), "http"))
    source = PolicySource(**checked_keys(PolicySource, values, "policy"))
    # Relative to where `serve run` starts; replicas may run elsewhere (serve deploy: give absolute paths).
    source = dataclasses.replace(source, checkpoint=os.path.abspath(source.checkpoint))
    return PolicyEndpoint.options(name=policy_app_name(source.name), num_replicas=source.num_replicas).bind(source, settings)


def catalog_builder(args: dict):
    """`serve run` / `serve deploy` entry of the catalog application (serve/config.yaml)."""
    unknown = sorted(set(args) - {"policies", "http"})
    if unknown:
        raise ValueError(f"catalog args: unknown keys {unknown}: expected 'policies' (names) and 'http'")
    settings = HTTPSettings(**checked_keys(HTTPSettings, args.get("http", {}), "http"))
    return Catalog.bind(list(args.get("policies", [])), settings)
