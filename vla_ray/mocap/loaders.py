"""One entry point for every clip format, chosen by the file's suffix."""

from __future__ import annotations

from pathlib import Path

from vla_ray.mocap.bvh import DEFAULT_AXES as BVH_AXES
from vla_ray.mocap.bvh import DEFAULT_LENGTH_UNIT_M, load_bvh
from vla_ray.mocap.clips import MotionClip, SourceAxes
from vla_ray.mocap.deepmimic import load_deepmimic
from vla_ray.mocap.npz import load_npz

DEEPMIMIC_SUFFIXES = (".txt", ".json")
SUFFIXES = DEEPMIMIC_SUFFIXES + (".bvh", ".npz")


def load_clip(path: str | Path, axes: SourceAxes | None = None, length_unit_m: float | None = None) -> MotionClip:
    """A DeepMimic (.txt, .json), BVH or NPZ clip. `axes` and `length_unit_m` describe a BVH or NPZ source
    (None: the format's default); DeepMimic's are fixed by the format, and NPZ is in metres."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"motion clip {str(path)!r}: no such file")
    if suffix in DEEPMIMIC_SUFFIXES:
        if axes is not None or length_unit_m is not None:
            raise ValueError(f"{path}: DeepMimic clips are metres, y up, facing +x: expected no axes or length unit")
        return load_deepmimic(path)
    if suffix == ".bvh":
        return load_bvh(
            path, length_unit_m=DEFAULT_LENGTH_UNIT_M if length_unit_m is None else length_unit_m,
            axes=axes or BVH_AXES,
        )
    if suffix == ".npz":
        if length_unit_m is not None:
            raise ValueError(f"{path}: NPZ clips are in metres: expected no length unit")
        return load_npz(path, axes=axes or SourceAxes())
    raise ValueError(f"motion clip {str(path)!r}: suffix {suffix!r}: expected one of {', '.join(SUFFIXES)}")
