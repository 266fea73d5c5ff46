"""Locate and verify the model files shipped in `emotion_models/assets/`.

Models are package data, never downloaded at run time; a truncated or swapped file must fail loudly
at load time rather than produce quietly wrong detections.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable or not the file we expect."""


def read_verified(path: Path, sha256: str | None) -> bytes:
    """Return the file's bytes after checking it exists and (if given) matches sha256."""
    if not path.is_file():
        raise ModelFileError(
            f"model file {path} is missing; it ships inside the emotion-bot package "
            "(reinstall the package or pass the path of a copy)"
        )
    data = path.read_bytes()
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ModelFileError(
                f"model file {path} is corrupt or not the expected version: "
                f"sha256 {actual}, expected {sha256}"
            )
    return data
