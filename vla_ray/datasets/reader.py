"""Read an episode dataset back as per-episode numpy arrays, after checking its schema version.

The observations come back as the policy saw them: each part in its shape and dtype, the
instruction part re-encoded from the instruction text. Ray Data reads the same files as rows
(`ray.data.read_parquet`); this reader is for code that wants whole episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_ray.datasets.schema import INSTRUCTION_COLUMN, DatasetInfo, DatasetSummary, read_metadata_values
from vla_ray.language import encode_instruction


@dataclass(frozen=True)
class Episode:
    index: int
    observations: dict[str, np.ndarray]  # per part: (T, *shape), the observation each action was chosen from
    actions: np.ndarray  # (T, action_dim) normalized actions
    rewards: np.ndarray  # (T,)
    terminated: np.ndarray  # (T,) bool; only the last row can be True
    truncated: np.ndarray  # (T,) bool; only the last row can be True
    timestamps_s: np.ndarray  # (T,) from the episode's start
    success: bool  # the environment's verdict on the episode
    instruction: str
    embodiment: str

    @property
    def length(self) -> int:
        return len(self.rewards)

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())


@dataclass(frozen=True)
class EpisodeDataset:
    info: DatasetInfo
    summary: DatasetSummary
    episodes: list[Episode]


def read_dataset_info(path: str | Path) -> tuple[DatasetInfo, DatasetSummary]:
    """The dataset's metadata (the Parquet footer only), after the schema-version check."""
    values = read_metadata_values(pq.read_metadata(path).metadata, str(path))
    info = DatasetInfo.from_values(values, str(path))
    if "summary" not in values:
        raise ValueError(f"{path}: metadata has no summary: expected a file its writer closed")
    return info, DatasetSummary(**values["summary"])


def read_dataset(path: str | Path) -> EpisodeDataset:
    """Every episode of the file, in episode_index order, checked to be whole (frames 0..T-1, summary's count)."""
    info, summary = read_dataset_info(path)
    table = pq.read_table(path).sort_by([("episode_index", "ascending"), ("frame_index", "ascending")])
    episode_index = _numpy(table.column("episode_index"))
    starts = np.flatnonzero(np.diff(episode_index, prepend=-1))
    if len(starts) != summary.episodes:
        raise ValueError(f"{path}: holds {len(starts)} episodes: its summary says {summary.episodes}")
    observations = {
        p.name: (
            np.stack([encode_instruction(text) for text in table.column(p.column).to_pylist()])
            if p.is_text else _numpy(table.column(p.column))
        )
        for p in info.observation_parts
    }
    actions = _numpy(table.column("action"))
    rows = {name: _numpy(table.column(name)) for name in
            ("frame_index", "timestamp_s", "reward", "terminated", "truncated", "episode_success")}
    texts = {name: table.column(name).to_pylist() for name in (INSTRUCTION_COLUMN, "embodiment")}
    episodes = []
    for start, stop in zip(starts, [*starts[1:], len(episode_index)]):
        index = int(episode_index[start])
        if not np.array_equal(rows["frame_index"][start:stop], np.arange(stop - start)):
            raise ValueError(f"{path}: episode {index} has frame_index values that are not 0..{stop - start - 1}")
        episodes.append(Episode(
            index=index,
            observations={name: values[start:stop] for name, values in observations.items()},
            actions=actions[start:stop],
            rewards=rows["reward"][start:stop],
            terminated=rows["terminated"][start:stop],
            truncated=rows["truncated"][start:stop],
            timestamps_s=rows["timestamp_s"][start:stop],
            success=bool(rows["episode_success"][start]),
            instruction=texts[INSTRUCTION_COLUMN][start],
            embodiment=texts["embodiment"][start],
        ))
    return EpisodeDataset(info, summary, episodes)


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column as one writable numpy array, (rows, *shape) for tensor columns; a copy, because views of Arrow
    buffers are read-only and torch.from_numpy warns on each of them."""
    array = column.combine_chunks()
    if isinstance(array, pa.FixedShapeTensorArray):
        return np.array(array.to_numpy_ndarray())
    return np.array(array.to_numpy(zero_copy_only=False))
