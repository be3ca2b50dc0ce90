"""One writer per run folder: a training takes ``<run>/.lock`` before it writes anything there
and a second training into the same folder is refused instead of interleaving its checkpoints
and ``metrics.jsonl`` with the first one's.

The lock is an ``flock`` on that file (where the platform has one): the kernel drops it when its
process ends, however it ends, so a lock left by a crashed or killed run is stale by
construction and the next run simply takes it. Elsewhere the file is created exclusively and
holds the owner's process id; a file whose process no longer runs is stale and taken over.
The file stays in the folder after release (removing it would let two processes lock two
different files of the same name).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from cyclesr.engine.checkpoint import RunPaths
from cyclesr.ops.files import WriteError, pid_running

try:
    import fcntl
except ImportError:  # not on this platform: a pid file instead
    fcntl = None

__all__ = ["RunFolderError", "RunLock", "LOCK_NAME", "claim_run_folder"]

LOCK_NAME = ".lock"


class RunFolderError(WriteError):
    """A run folder this training may not write: another training holds it, or it holds a run
    that was not asked to continue. The message names the folder and what to do."""


class RunLock:
    """The lock of one run folder; ``acquire`` raises RunFolderError when another process
    holds it, ``release`` (also on garbage collection) lets the next one in."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        if self.held:
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644) if fcntl else self._create_pid_file()
        except OSError as exc:
            raise RunFolderError(f"cannot write to the run folder '{self.folder}': "
                                 f"{exc.strerror or exc}; choose a writable --output-dir") from None
        if fcntl:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = self._owner(fd)
                os.close(fd)
                raise self._busy(owner) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def _create_pid_file(self) -> int:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = self._owner_of_file()
                if owner is not None and pid_running(owner):
                    raise self._busy(owner) from None
                self.path.unlink(missing_ok=True)  # stale: its process no longer runs
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        raise self._busy(self._owner_of_file())

    def _owner(self, fd: int) -> Optional[int]:
        try:
            return int(os.pread(fd, 32, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _owner_of_file(self) -> Optional[int]:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _busy(self, owner: Optional[int]) -> RunFolderError:
        who = f"process {owner}" if owner else "another process"
        return RunFolderError(f"run folder '{self.folder}' is in use by another training ({who}); "
                              "wait for it to finish, or train into another --output-dir")

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if fcntl:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                pass
        os.close(fd)
        if not fcntl:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def claim_run_folder(paths: RunPaths, overwrite: bool = False) -> None:
    """Let a fresh run (no resume) start in ``paths.root``: refused (RunFolderError) when the
    folder holds a run, unless ``overwrite``, which deletes that run's files first (so nothing
    of it, best.pt included, can be taken for the new run's)."""
    found = paths.run_files()
    if found and not overwrite:
        names = ", ".join(str(p.relative_to(paths.root)) for p in found[:3])
        raise RunFolderError(
            f"'{paths.root}' already holds a run ({names}{', ...' if len(found) > 3 else ''}); "
            "continue it with --resume, train into a fresh --output-dir, or pass --overwrite to "
            "delete that run")
    if found:
        removed = paths.discard_run()
        print(f"--overwrite: deleted {len(removed)} file(s) of the previous run in {paths.root}",
              file=sys.stderr)
