"""Parquet motion datasets: one RetargetedMotion per file, one row per frame.

Columns: frame_index, timestamp_s, then one per per-frame array of the motion (root_pos,
root_quat, root_lin_vel, root_ang_vel, joint_pos, joint_vel, foot_height_m, foot_contact), each
Arrow's canonical fixed-shape tensor type like the episode datasets' columns, so that Ray Data's
numpy batches give (rows, n) arrays. The key-value metadata ("vla_ray.motion.*", JSON values)
holds what a row cannot say: the schema version, source clip, fps, embodiment, joint and foot
names, the clipping report, the leg scale and the ground offset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_ray.mocap.motion import RetargetedMotion

SCHEMA_VERSION = 1
METADATA_PREFIX = "vla_ray.motion."
# Its own key, so that neither a motion reader nor an episode reader takes the other's files.
VERSION_KEY = f"{METADATA_PREFIX}schema_version"
TENSOR_COLUMNS = ("root_pos", "root_quat", "root_lin_vel", "root_ang_vel", "joint_pos", "joint_vel", "foot_height_m")
CONTACT_COLUMN = "foot_contact"  # 0/1 as uint8: Arrow tensors hold no bools
METADATA_FIELDS = (
    "source_clip", "embodiment", "fps", "loop", "joint_names", "foot_names", "clipped_fraction", "leg_scale",
    "ground_offset_m",
)


def write_motion(motion: RetargetedMotion, path: str | Path) -> Path:
    path = Path(path)
    frames = np.arange(motion.num_frames)
    columns = {
        "frame_index": pa.array(frames, pa.int64()),
        "timestamp_s": pa.array(frames / motion.fps, pa.float64()),
        **{name: pa.FixedShapeTensorArray.from_numpy_ndarray(getattr(motion, name)) for name in TENSOR_COLUMNS},
        CONTACT_COLUMN: pa.FixedShapeTensorArray.from_numpy_ndarray(motion.foot_contact.astype(np.uint8)),
    }
    values = {VERSION_KEY: SCHEMA_VERSION, **{METADATA_PREFIX + name: getattr(motion, name) for name in METADATA_FIELDS}}
    metadata = {key: json.dumps(value, sort_keys=True) for key, value in values.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns).replace_schema_metadata(metadata), path)
    return path


def is_motion_dataset(path: str | Path) -> bool:
    """Whether a Parquet file is a motion dataset (its footer says so; no row is read)."""
    return VERSION_KEY.encode() in (pq.read_metadata(path).metadata or {})


def read_motion(path: str | Path) -> RetargetedMotion:
    path = Path(path)
    table = pq.read_table(path)
    metadata = {key.decode(): value for key, value in (table.schema.metadata or {}).items()}
    if VERSION_KEY not in metadata:
        raise ValueError(f"{path}: no {VERSION_KEY} in the Parquet metadata: expected a vla-ray motion dataset")
    version = json.loads(metadata[VERSION_KEY])
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: motion dataset schema version {version}: this vla-ray reads version {SCHEMA_VERSION}")
    missing = [METADATA_PREFIX + name for name in METADATA_FIELDS if METADATA_PREFIX + name not in metadata]
    missing += [name for name in (*TENSOR_COLUMNS, CONTACT_COLUMN) if name not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}: expected a complete motion dataset")
    arrays = {name: _tensor(table, name) for name in TENSOR_COLUMNS}
    return RetargetedMotion(
        **{name: json.loads(metadata[METADATA_PREFIX + name]) for name in METADATA_FIELDS},
        **arrays,
        foot_contact=_tensor(table, CONTACT_COLUMN).astype(bool),
    )


def _tensor(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).combine_chunks().to_numpy_ndarray()
