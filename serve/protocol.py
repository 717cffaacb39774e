"""HTTP plumbing shared by the policy endpoints and the catalog: settings, authentication, body limits,
JSON answers and the fail-closed mapping from exceptions to statuses (never a traceback)."""

import contextlib
import hmac
import json
import logging
import os
from dataclasses import dataclass

import orjson
from fastapi import Request
from fastapi.responses import Response
from ray.exceptions import ActorUnavailableError, RayActorError

from serve.schemas import ErrorBody
from serve.validation import RequestError

# Serve routes its own logger to the replica log files (logs/serve/replica_*.log).
logger = logging.getLogger("ray.serve")

ERROR_RESPONSES = {status: {"model": ErrorBody} for status in (400, 401, 404, 413, 422, 503)}
# RFC 6455 close codes for refused WebSocket handshakes: policy violation (auth, unknown), try again later.
WS_CLOSE_CODES = {401: 1008, 404: 1008, 503: 1013}


@dataclass(frozen=True)
class HTTPSettings:
    max_body_bytes: int = 1 << 20  # larger bodies get 413 before they are parsed
    max_batch_requests: int = 256  # observations per act_batch request
    token_env: str | None = None  # environment variable holding the bearer token (None: no authentication)

    def __post_init__(self):
        if self.max_body_bytes < 1024:
            raise ValueError(f"HTTPSettings.max_body_bytes={self.max_body_bytes}: expected >= 1024")
        if self.max_batch_requests < 1:
            raise ValueError(f"HTTPSettings.max_batch_requests={self.max_batch_requests}: expected >= 1")

    def token(self) -> str | None:
        """The bearer token, read in the serving process (it never travels in a config or a bind argument)."""
        if self.token_env is None:
            return None
        token = os.environ.get(self.token_env)
        if not token:
            # Fail closed: a server told to require a token must not start without one.
            raise RuntimeError(f"HTTPSettings.token_env={self.token_env!r} is set but that variable is empty here")
        return token


def authorize(token: str | None, authorization: str | None) -> None:
    if token is None:
        return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise RequestError(401, "authorization", "expected the header 'Authorization: Bearer <token>'")


def request_schema(model) -> dict:
    """Document a body the handler parses itself (see serve.schemas) in the OpenAPI spec."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def json_response(body, status: int = 200) -> Response:
    # orjson straight to bytes: FastAPI's jsonable_encoder walk costs more than the policy's forward pass.
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(error: RequestError) -> Response:
    response = json_response(error.to_dict(), error.status)
    if error.status == 503:
        response.headers["Retry-After"] = "1"
    return response


def client_error(error: Exception, path: str) -> RequestError:
    """The answer for an exception raised while serving `path`."""
    if isinstance(error, RequestError):
        return error
    if isinstance(error, (RayActorError, ActorUnavailableError)):
        logger.warning("a replica was unavailable while serving %s: %s", path, error)
        return RequestError(503, "name", "the policy replica is restarting; retry")
    logger.error("unexpected error serving %s", path, exc_info=error)
    return RequestError(500, "server", "internal error (logged on the server)")


async def answer(token: str | None, request: Request, work) -> Response:
    """Authenticate, run a route's work and answer JSON; any failure becomes its status and an error body."""
    try:
        authorize(token, request.headers.get("authorization"))
        return json_response(await work())
    except Exception as error:  # noqa: BLE001 -- mapped to a status, never leaked as a traceback
        return error_response(client_error(error, request.url.path))


def parse_json(raw: bytes | str):
    with contextlib.suppress(orjson.JSONDecodeError):
        return orjson.loads(raw)
    # NaN and Infinity are not JSON, but common clients (Python's json) write them: parse them so validation can
    # refuse the exact field (422) instead of the whole body.
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(400, "body", f"not valid JSON ({err})") from None


async def read_json(request: Request, cap: int):
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise RequestError(413, "body", f"{declared} bytes: the limit is {cap}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise RequestError(413, "body", f"more than {cap} bytes: the limit is {cap}")
    return parse_json(bytes(body))
