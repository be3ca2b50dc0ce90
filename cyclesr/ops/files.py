"""Files that appear whole or not at all: write to a temporary file beside the target, fsync,
rename. A crash, a kill or a full disk leaves any previous file intact.

A temporary file is named ``.NAME.PID.XXXXXXXX.cyclesr.tmp`` (NAME cut to its first 64
characters, so that a target name near the file system's 255-character limit still has a
writable temporary name; PID the writing process): a later run recognises the ones a killed
process left and removes them (``remove_stale_temp_files``) without touching a live writer's
files or anything else in the folder."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

__all__ = ["WriteError", "atomic_write", "atomic_write_bytes", "remove_stale_temp_files",
           "temp_name_prefix", "TEMP_SUFFIX", "pid_running"]

TEMP_SUFFIX = ".cyclesr.tmp"
_NAME_KEPT = 64  # characters of the target's name kept in its temporary name
_TEMP_NAME = re.compile(r"^\..*\.(\d+)\.[^.]+" + re.escape(TEMP_SUFFIX) + "$", re.DOTALL)


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


def temp_name_prefix(path: Path) -> str:
    """The start of a temporary name for ``path``: ``.NAME.PID.`` (see the module docstring)."""
    return f".{path.name[:_NAME_KEPT]}.{os.getpid()}."


def pid_running(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def atomic_write(path: str | Path, write_fn) -> Path:
    """Call ``write_fn(file_object)`` on a temporary file beside ``path``, fsync, rename.
    A crash or a failed write leaves any previous ``path`` untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
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


def remove_stale_temp_files(folder: str | Path, recursive: bool = False, owned: bool = False) -> list[Path]:
    """Delete the temporary files that ``atomic_write`` (or ``cyclesr.data.io.write_image``)
    left in ``folder`` (and its subfolders with ``recursive``) when their process was killed
    mid-write; they never replaced a complete file. A temporary file of a process that still
    runs is kept, and files not named like ours are never touched, unless ``owned``: a folder
    only its (locked) owner writes, where every ``.*.tmp`` is an unfinished write (earlier
    versions named them ``.NAME.XXXXXXXX.tmp``). Returns the removed files."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in (folder.rglob if recursive else folder.glob)(".*.tmp"):
        match = _TEMP_NAME.match(tmp.name)
        if not tmp.is_file():
            continue
        if not owned and (not match or pid_running(int(match.group(1)))):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed
