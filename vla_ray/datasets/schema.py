"""The episode dataset's layout: one Parquet row per control step, columns built from the policy interface.

Columns, in order: episode_index, frame_index, timestamp_s, one column per observation part
("observation.<part>"), action, reward, terminated, truncated, episode_success, instruction,
embodiment. A row holds the observation the action was chosen from, that action, and what the
step returned for it. Observation parts and the action are Arrow's canonical fixed-shape tensor
type (fixed-size lists of the row-major values that carry the part's shape): pyarrow's
to_numpy_ndarray() and Ray Data's numpy batches give (rows, *shape) arrays, where plain
fixed-size lists come out of Ray Data as arrays of per-row objects.

The instruction part (zero-padded UTF-8 bytes) is not stored twice: its column is the
instruction text, and readers re-encode it, which gives back the same bytes exactly.

The Parquet key-value metadata ("vla_ray.*", JSON values) holds the schema version, the
environment id and settings, the embodiment, the control rate, where each observation part
lives and how the episodes were made; the writer adds the summary when it closes the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from vla_ray.interface import PolicyInterface

SCHEMA_VERSION = 1
METADATA_PREFIX = "vla_ray."
VERSION_KEY = f"{METADATA_PREFIX}schema_version"
SUMMARY_KEY = f"{METADATA_PREFIX}summary"
OBSERVATION_PREFIX = "observation."
INSTRUCTION_PART = "instruction"
INSTRUCTION_COLUMN = "instruction"
CONTROLLERS = ("expert", "checkpoint")

INDEX_FIELDS = (
    pa.field("episode_index", pa.int64(), nullable=False),
    pa.field("frame_index", pa.int64(), nullable=False),
    pa.field("timestamp_s", pa.float64(), nullable=False),  # frame_index times the control period
)
STEP_FIELDS = (
    pa.field("reward", pa.float64(), nullable=False),
    pa.field("terminated", pa.bool_(), nullable=False),
    pa.field("truncated", pa.bool_(), nullable=False),
    # The episode's outcome on each of its rows, so a reader can keep successful episodes with a row filter.
    pa.field("episode_success", pa.bool_(), nullable=False),
    pa.field(INSTRUCTION_COLUMN, pa.string(), nullable=False),
    pa.field("embodiment", pa.string(), nullable=False),
)


@dataclass(frozen=True)
class PartLayout:
    """Where one observation part lives in the file: a tensor column of its shape, or the instruction text."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    column: str

    @property
    def is_text(self) -> bool:
        return self.column == INSTRUCTION_COLUMN


@dataclass(frozen=True)
class DatasetSource:
    """How the episodes were made: a scripted expert or a checkpoint, from which seed, on how many robots."""

    controller: str
    seed: int
    num_envs: int
    checkpoint: str | None = None  # absolute path of the checkpoint directory

    def __post_init__(self):
        if self.controller not in CONTROLLERS:
            raise ValueError(f"DatasetSource.controller={self.controller!r}: expected one of {CONTROLLERS}")
        if (self.checkpoint is not None) != (self.controller == "checkpoint"):
            raise ValueError(
                f"DatasetSource.checkpoint={self.checkpoint!r}: expected a path exactly when controller is 'checkpoint'"
            )
        if self.num_envs < 1:
            raise ValueError(f"DatasetSource.num_envs={self.num_envs}: expected >= 1")


@dataclass(frozen=True)
class DatasetSummary:
    episodes: int
    success_rate: float
    mean_return: float
    steps: int  # rows: control steps over all episodes

    def __post_init__(self):
        if self.episodes < 1:
            raise ValueError(f"DatasetSummary.episodes={self.episodes}: expected >= 1 (a dataset holds whole episodes)")

    @classmethod
    def of(cls, returns: list[float], successes: list[bool], steps: int) -> "DatasetSummary":
        return cls(len(returns), float(np.mean(successes)), float(np.mean(returns)), steps)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DatasetInfo:
    """Everything a dataset's metadata says besides its summary; it builds the file's Arrow schema."""

    env_id: str
    env_config: dict
    embodiment: str
    control_frequency_hz: float
    action_dim: int
    observation_parts: tuple[PartLayout, ...]
    source: DatasetSource

    def __post_init__(self):
        if not self.control_frequency_hz > 0:
            raise ValueError(f"DatasetInfo.control_frequency_hz={self.control_frequency_hz}: expected > 0")
        if self.action_dim < 1:
            raise ValueError(f"DatasetInfo.action_dim={self.action_dim}: expected >= 1")
        try:
            # As the file will hold it (tuples become lists), so the info read back equals the one written.
            object.__setattr__(self, "env_config", json.loads(json.dumps(self.env_config, allow_nan=False)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"DatasetInfo.env_config={self.env_config!r}: expected JSON-serializable settings ({error})")
        if [p.name for p in self.observation_parts if p.is_text] != [INSTRUCTION_PART]:
            raise ValueError(
                f"DatasetInfo.observation_parts={[p.name for p in self.observation_parts]}: expected one "
                f"{INSTRUCTION_PART!r} part, stored as the {INSTRUCTION_COLUMN!r} column"
            )

    @classmethod
    def of(cls, interface: PolicyInterface, env_config: dict, source: DatasetSource) -> "DatasetInfo":
        parts = tuple(
            PartLayout(
                p.name, tuple(int(d) for d in p.shape), p.dtype, p.unit,
                INSTRUCTION_COLUMN if p.name == INSTRUCTION_PART else OBSERVATION_PREFIX + p.name,
            )
            for p in interface.observation_spec.parts
        )
        embodiment = interface.embodiment
        return cls(
            interface.env_id, dict(env_config), embodiment.robot_name, float(embodiment.control_frequency_hz),
            embodiment.action_dim, parts, source,
        )

    def arrow_schema(self) -> pa.Schema:
        observation_fields = [
            pa.field(p.column, tensor_type(p.dtype, p.shape), nullable=False)
            for p in self.observation_parts if not p.is_text
        ]
        action = pa.field("action", tensor_type("float32", (self.action_dim,)), nullable=False)
        return pa.schema([*INDEX_FIELDS, *observation_fields, action, *STEP_FIELDS], metadata=self.metadata())

    def metadata(self) -> dict[bytes, bytes]:
        values = {
            VERSION_KEY: SCHEMA_VERSION,
            f"{METADATA_PREFIX}env_id": self.env_id,
            f"{METADATA_PREFIX}env_config": self.env_config,
            f"{METADATA_PREFIX}embodiment": self.embodiment,
            f"{METADATA_PREFIX}control_frequency_hz": self.control_frequency_hz,
            f"{METADATA_PREFIX}action_dim": self.action_dim,
            f"{METADATA_PREFIX}observation_parts": [asdict(p) for p in self.observation_parts],
            f"{METADATA_PREFIX}source": asdict(self.source),
        }
        return {key.encode(): metadata_value(value) for key, value in values.items()}

    @classmethod
    def from_values(cls, values: dict, where: str) -> "DatasetInfo":
        """The info in a file's metadata values (as read_metadata_values returns them)."""
        try:
            return cls(
                env_id=values["env_id"],
                env_config=values["env_config"],
                embodiment=values["embodiment"],
                control_frequency_hz=values["control_frequency_hz"],
                action_dim=values["action_dim"],
                observation_parts=tuple(
                    PartLayout(**{**p, "shape": tuple(p["shape"])}) for p in values["observation_parts"]
                ),
                source=DatasetSource(**values["source"]),
            )
        except KeyError as missing:
            raise ValueError(f"{where}: metadata has no {METADATA_PREFIX}{missing.args[0]}: expected a complete vla-ray dataset")


def tensor_type(dtype: str, shape: tuple[int, ...]) -> pa.DataType:
    return pa.fixed_shape_tensor(pa.from_numpy_dtype(np.dtype(dtype)), shape)


def metadata_value(value) -> bytes:
    """A metadata value as stored: JSON, keys sorted, so equal values are equal bytes."""
    return json.dumps(value, sort_keys=True).encode()


def read_metadata_values(metadata: dict[bytes, bytes] | None, where: str) -> dict:
    """The vla_ray.* values of a file's key-value metadata (decoded, prefix removed), after the version check."""
    check_schema_version(metadata, where)
    return {
        key.decode().removeprefix(METADATA_PREFIX): json.loads(value)
        for key, value in metadata.items() if key.decode().startswith(METADATA_PREFIX)
    }


def check_schema_version(metadata: dict[bytes, bytes] | None, where: str) -> None:
    """Refuse a file that is not a vla-ray episode dataset, or one written under another schema version."""
    raw = (metadata or {}).get(VERSION_KEY.encode())
    if raw is None:
        raise ValueError(f"{where}: no {VERSION_KEY} in the Parquet metadata: expected a vla-ray episode dataset")
    version = json.loads(raw)
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{where}: episode dataset schema version {version}: this vla-ray reads schema version {SCHEMA_VERSION}"
        )
