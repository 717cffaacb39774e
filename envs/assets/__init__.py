"""Robot models (MJCF) authored for this project, one folder per robot."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent


def resolve_model_path(model_path: str) -> Path:
    """An absolute path as given; a relative one under this folder. Raises if the file does not exist."""
    path = Path(model_path)
    if not path.is_absolute():
        path = ASSETS_DIR / path
    if not path.is_file():
        raise FileNotFoundError(f"robot model {model_path!r}: expected an MJCF file, looked at {path}")
    return path
