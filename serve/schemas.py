"""Request and response bodies of the HTTP API, as pydantic models for the OpenAPI docs.

The handlers parse bodies with `serve.validation` (against each policy's own observation
spec, with field-named errors) rather than through these models: observation parts differ
per policy, and a generic schema cannot check shapes or bounds. `GET /v1/policies` gives
each policy's exact parts.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ActBody(BaseModel):
    observation: dict[str, list] = Field(
        description="named observation parts of the policy's environment (see GET /v1/policies), in their units",
        examples=[{"joint_pos": [0.0] * 32, "joint_vel": [0.0] * 32, "imu": [0.0] * 8 + [-1.0]}],
    )
    instruction: str | None = Field(None, description="instruction text; default: the task the policy trained on")
    image: str | None = Field(None, description="base64 PNG or JPEG camera image, for vision policies")
    deterministic: bool = Field(True, description="the action distribution's mean (true) or a sample (false)")


class BatchBody(BaseModel):
    requests: list[ActBody] = Field(description="observations answered in one forward pass, in order")


class SafetyBody(BaseModel):
    intervened: bool = Field(description="the safety filter changed the command")
    fallback: bool = Field(description="the policy output was not finite: the command holds the current position")
    limit_clamped: list[str] = Field(description="joints whose target was clamped to the joint limits")
    velocity_clamped: list[str] = Field(description="joints whose target was clamped to the per-step velocity bound")


class ActResponse(BaseModel):
    policy: str
    policy_version: str = Field(description="checkpoint, training iteration and weights digest that produced the action")
    action: list[float] = Field(description="joint position targets in rad (then gripper openings in [0, 1]), safe")
    normalized_action: list[float] | None = Field(description="the policy's output in [-1, 1]; null on fallback")
    action_chunk: list[list[float]] | None = Field(
        None, description="chunk policies only: the targets of the next control steps, one list per step, to be "
        "executed in order (the first is `action`); safety covers every step",
    )
    safety: SafetyBody


class BatchResponse(BaseModel):
    results: list[ActResponse]


class ErrorDetail(BaseModel):
    status: int
    field: str = Field(description="the request field at fault, e.g. observation.joint_vel")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail
