"""Files that appear whole or not at all: write to a temporary file beside the target, fsync,
rename. A crash, a kill or a full disk leaves any previous file intact."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["WriteError", "atomic_write", "atomic_write_bytes", "remove_stale_temp_files"]


class WriteError(RuntimeError):
    """A file that cannot be written; the message names it and says what to do."""


def _file_mode() -> int:
    """Permissions of a newly created file under the current umask (temporary files are 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()  # read once at import: changing the umask is process-wide


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write_fn) -> Path:
    """Call ``write_fn(file_object)`` on a temporary file beside ``path``, fsync, rename.
    A crash or a failed write leaves any previous ``path`` untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteError(f"cannot write '{path}': {exc.strerror or exc}; check that the folder "
                              "is writable and the disk has space") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fchmod(f.fileno(), _FILE_MODE)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write '{path}': {exc.strerror or exc}; the previous "
                                  "file (if any) is intact. Free disk space or choose another "
                                  "--output-dir") from None
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files ``atomic_write`` leaves in ``folder`` when a process is killed
    mid-write (``.NAME.XXXXXXXX.tmp``); they never replaced a complete file. Returns them."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed
