"""EpisodeWriter: a vector environment's batched steps -> whole episodes as rows of a Parquet file.

Under gymnasium's NEXT_STEP autoreset a robot whose episode ended at one step is reset at the
next, its action ignored: that step's observation is the new episode's first, not a row. Each
robot's episode is buffered and written when it ends, as one row group, so a file holds only
whole episodes, each contiguous, numbered in the order they finished. Once the requested number
of episodes has started no robot starts another, so the last ones to finish are not only the
short ones. The file is written under a temporary name and renamed into place when it closes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_ray.datasets.schema import SUMMARY_KEY, DatasetInfo, DatasetSummary, metadata_value
from vla_ray.language import decode_instruction


class _EpisodeBuffer:
    """One robot's episode so far: per step, the observation the action was chosen from and what followed."""

    def __init__(self):
        self.observations: list[dict[str, np.ndarray]] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []


class EpisodeWriter:
    def __init__(self, path: str | Path, info: DatasetInfo, episodes: int):
        if episodes < 1:
            raise ValueError(f"EpisodeWriter episodes={episodes}: expected >= 1")
        self.path = Path(path)
        self.info = info
        self.episodes = episodes
        self.summary: DatasetSummary | None = None  # set by close()
        self._schema = info.arrow_schema()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        self._parquet = pq.ParquetWriter(self._partial, self._schema)
        self._observations: dict[str, np.ndarray] | None = None  # the batch the coming actions are chosen from
        self._buffers: list[_EpisodeBuffer | None] = []  # None: the robot's current episode is not recorded
        self._ended = np.zeros(0, dtype=bool)  # episodes that ended at the last step: this step resets them
        self._started = 0
        self._returns: list[float] = []
        self._successes: list[bool] = []
        self._rows = 0

    @property
    def complete(self) -> bool:
        return len(self._returns) == self.episodes

    def start(self, observations: dict[str, np.ndarray]) -> None:
        """The batch of first observations that the vector env's reset() returned."""
        if self._observations is not None:
            raise RuntimeError(f"EpisodeWriter({self.path}).start: already started; a writer records one rollout")
        num_envs = len(next(iter(observations.values())))
        self._observations = observations
        self._buffers = [self._begin() for _ in range(num_envs)]
        self._ended = np.zeros(num_envs, dtype=bool)

    def step(
        self, actions: np.ndarray, observations: dict[str, np.ndarray], rewards: np.ndarray,
        terminated: np.ndarray, truncated: np.ndarray, episode_success: np.ndarray,
    ) -> None:
        """One vector-env step: the actions taken and what step() returned for them. `episode_success` (N,) is
        read for the robots whose episode ended at this step: the environment's verdict on that episode."""
        if self._observations is None:
            raise RuntimeError(f"EpisodeWriter({self.path}).step: call start() with the reset observations first")
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (len(self._buffers), self.info.action_dim):
            raise ValueError(
                f"EpisodeWriter.step actions of shape {actions.shape}: expected {(len(self._buffers), self.info.action_dim)}"
            )
        for i, buffer in enumerate(self._buffers):
            if self._ended[i]:  # the autoreset step: observations[i] is the new episode's first
                self._buffers[i] = self._begin()
            elif buffer is not None:
                buffer.observations.append({name: value[i].copy() for name, value in self._observations.items()})
                buffer.actions.append(actions[i])
                buffer.rewards.append(float(rewards[i]))
                buffer.terminated.append(bool(terminated[i]))
                buffer.truncated.append(bool(truncated[i]))
                if terminated[i] or truncated[i]:
                    self._write(buffer, bool(episode_success[i]))
                    self._buffers[i] = None
        self._ended = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        self._observations = observations

    def _begin(self) -> _EpisodeBuffer | None:
        if self._started == self.episodes:
            return None
        self._started += 1
        return _EpisodeBuffer()

    def _write(self, buffer: _EpisodeBuffer, success: bool) -> None:
        info, length = self.info, len(buffer.rewards)
        frames = np.arange(length, dtype=np.int64)
        columns = {
            "episode_index": np.full(length, len(self._returns), dtype=np.int64),
            "frame_index": frames,
            "timestamp_s": frames / info.control_frequency_hz,
        }
        for part in info.observation_parts:
            values = np.stack([obs[part.name] for obs in buffer.observations]).astype(part.dtype)
            if part.is_text:
                columns[part.column] = [decode_instruction(code) for code in values]
            else:
                columns[part.column] = values
        columns["action"] = np.stack(buffer.actions)
        columns["reward"] = np.array(buffer.rewards, dtype=np.float64)
        columns["terminated"] = np.array(buffer.terminated)
        columns["truncated"] = np.array(buffer.truncated)
        columns["episode_success"] = np.full(length, success)
        columns["embodiment"] = [info.embodiment] * length
        batch = pa.RecordBatch.from_arrays(
            [_arrow(columns[field.name], field.type) for field in self._schema], schema=self._schema
        )
        self._parquet.write_batch(batch, row_group_size=length)
        self._returns.append(float(np.sum(buffer.rewards)))
        self._successes.append(success)
        self._rows += length

    def close(self) -> DatasetSummary:
        """Add the summary to the metadata, finish the file and move it into place."""
        if not self._returns:
            self.abort()
            raise RuntimeError(f"EpisodeWriter({self.path}): no episode ended: expected at least one whole episode")
        self.summary = DatasetSummary.of(self._returns, self._successes, self._rows)
        self._parquet.add_key_value_metadata({SUMMARY_KEY: metadata_value(self.summary.to_dict())})
        self._parquet.close()
        os.replace(self._partial, self.path)
        return self.summary

    def abort(self) -> None:
        """Drop the unfinished file: nothing half-written is left under the dataset's name."""
        self._parquet.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _arrow(values, arrow_type: pa.DataType) -> pa.Array:
    """A column's values as an Arrow array of its schema type; (T, *shape) arrays for tensor columns."""
    if isinstance(arrow_type, pa.FixedShapeTensorType):
        storage = pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(values)), type=arrow_type.storage_type)
        return pa.ExtensionArray.from_storage(arrow_type, storage)
    return pa.array(values, type=arrow_type)
