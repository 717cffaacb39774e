"""Episode datasets: demonstrations and rollouts as Parquet files, one row per control step.

schema: the columns and metadata, built from the policy interface; writer: a vector env's
steps -> whole episodes; reader: whole episodes back as numpy arrays; recording: roll out a
scripted expert or a checkpoint into a file.
"""

from vla_ray.datasets.reader import Episode, EpisodeDataset, read_dataset, read_dataset_info
from vla_ray.datasets.schema import SCHEMA_VERSION, DatasetInfo, DatasetSource, DatasetSummary, check_schema_version
from vla_ray.datasets.writer import EpisodeWriter

__all__ = [
    "SCHEMA_VERSION", "DatasetInfo", "DatasetSource", "DatasetSummary", "Episode", "EpisodeDataset", "EpisodeWriter",
    "check_schema_version", "read_dataset", "read_dataset_info",
]
