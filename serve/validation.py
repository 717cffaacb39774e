"""Request validation that fails closed: every observation part is checked against the policy's
ObservationSpec (presence, numeric type, shape, finiteness, bounds) before the policy sees it.

Errors name the offending field (`observation.joint_vel`, `instruction`, `image`, ...) so a
robot integrator can fix the client without reading server logs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
from dataclasses import dataclass

import numpy as np

from vla_ray.language import encode_instruction
from vla_ray.observation import ObservationPart, ObservationSpec

# Parts a client does not send as numbers: the instruction travels as text, the camera image as PNG/JPEG.
INSTRUCTION_PART, CAMERA_PART = "instruction", "camera_rgb"
NOT_NUMERIC_PARTS = (INSTRUCTION_PART, CAMERA_PART)


class RequestError(Exception):
    """A client error with the HTTP status and the field it concerns."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message

    def to_dict(self) -> dict:
        return {"error": {"status": self.status, "field": self.field, "message": self.message}}


def invalid(field: str, message: str) -> RequestError:
    return RequestError(422, field, message)


@dataclass(frozen=True)
class ObservationValidator:
    """Turns one JSON observation (+ instruction, image) into the arrays the policy module reads."""

    spec: ObservationSpec
    default_instruction: str

    # Derived once from the spec: __call__ runs on every request.
    @functools.cached_property
    def numeric_parts(self) -> tuple[ObservationPart, ...]:
        return tuple(p for p in self.spec.policy_parts if p.name not in NOT_NUMERIC_PARTS)

    @functools.cached_property
    def numeric_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.numeric_parts)

    @functools.cached_property
    def takes_image(self) -> bool:
        return CAMERA_PART in self.spec.names

    def __call__(self, observation: dict, instruction: str | None, image: str | None, prefix: str = "") -> dict:
        if not isinstance(observation, dict):
            raise invalid(f"{prefix}observation", "expected an object of named observation parts")
        extra = sorted(set(observation) - self.numeric_names)
        if extra:
            raise invalid(f"{prefix}observation.{extra[0]}", f"unknown part: expected only {sorted(self.numeric_names)}")
        parsed = {}
        for part in self.numeric_parts:
            field = f"{prefix}observation.{part.name}"
            if part.name not in observation:
                raise invalid(field, f"missing: expected {list(part.shape)} values in {part.unit}")
            parsed[part.name] = numeric_part(part, observation[part.name], field)
        if INSTRUCTION_PART in self.spec.names:
            parsed[INSTRUCTION_PART] = instruction_part(self.default_instruction if instruction is None else instruction,
                                                        f"{prefix}instruction")
        elif instruction is not None:
            raise invalid(f"{prefix}instruction", "this policy takes no instruction")
        if self.takes_image:
            if image is None:
                raise invalid(f"{prefix}image", "missing: this policy needs a camera image (base64 PNG or JPEG)")
            parsed[CAMERA_PART] = image_part(self.spec.part(CAMERA_PART), image, f"{prefix}image")
        elif image is not None:
            raise invalid(f"{prefix}image", "this policy takes no camera image")
        return parsed


def numeric_part(part: ObservationPart, value, field: str) -> np.ndarray:
    # Reject booleans, strings and nulls outright instead of letting numpy coerce them to numbers.
    try:
        raw = np.asarray(value)
    except ValueError:  # ragged nesting
        raise invalid(field, f"expected a numeric array of shape {list(part.shape)}") from None
    if raw.dtype.kind not in "iuf":
        raise invalid(field, f"expected numbers, got {raw.dtype.kind!r}-typed values (shape {list(part.shape)})")
    if raw.shape != part.shape:
        raise invalid(field, f"shape {list(raw.shape)}: expected {list(part.shape)}")
    array = raw.astype(np.float64)
    if not np.isfinite(array).all():
        index = int(np.flatnonzero(~np.isfinite(array.ravel()))[0])
        raise invalid(field, f"non-finite value at flat index {index}")
    outside = (array < part.low) | (array > part.high)
    if outside.any():
        index = int(np.flatnonzero(outside.ravel())[0])
        raise invalid(
            field, f"value {array.ravel()[index]} at flat index {index} is outside [{part.low}, {part.high}] {part.unit}"
        )
    return array.astype(np.dtype(part.dtype))


def instruction_part(text, field: str) -> np.ndarray:
    if not isinstance(text, str):
        raise invalid(field, "expected a string")
    try:
        return encode_instruction(text)
    except ValueError as error:
        raise invalid(field, str(error)) from None


def image_part(part: ObservationPart, encoded, field: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not isinstance(encoded, str):
        raise invalid(field, "expected a base64 string of a PNG or JPEG image")
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))) as image:
            if image.format not in ("PNG", "JPEG"):
                raise invalid(field, f"{image.format} image: expected PNG or JPEG")
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as error:
        raise invalid(field, f"not a decodable base64 PNG or JPEG image ({type(error).__name__})") from None
    if pixels.shape != part.shape:
        # No silent resize: the policy was trained on images of exactly this size and field of view.
        raise invalid(field, f"image is {pixels.shape[1]}x{pixels.shape[0]}: expected {part.shape[1]}x{part.shape[0]} RGB")
    return pixels
