"""Durable writes to the file system: what a rename or a new file needs before it survives a power loss."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make a folder's entries durable (a rename into it, a new or removed file): fsync the folder itself."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
