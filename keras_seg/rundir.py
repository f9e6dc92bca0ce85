"""A run directory: who owns it, what it holds, and how it is written without losing work.

- **One owner.** :meth:`RunDirectory.lock` creates ``.lock`` (``O_CREAT | O_EXCL``) holding
  the owner's host and pid; a second process is refused while that pid lives. A lock whose
  process is gone (same host) is stale and taken over.
- **No silent replacement.** A new run refuses a directory that already holds a run (its
  ``config.yaml``, checkpoints, history or summary) unless ``--overwrite``; ``--resume`` goes
  on with it instead.
- **Atomic files.** JSON and YAML state is written to a temporary file and renamed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket

from keras_seg.errors import UserError

LOCK_FILE = ".lock"
LAST_CHECKPOINT = "last.keras"
LAST_STATE = "last_state.json"
# Everything a run writes; `--overwrite` removes exactly these before a new run starts.
RUN_FILES = ("config.yaml", "best.keras", LAST_CHECKPOINT, LAST_STATE, "history.csv",
             "summary.json", "saved_model", "tensorboard", "lr_finder.png", "lr_finder.json",
             "postprocess.json")
# The files whose presence means "this directory holds a run".
_RUN_MARKERS = ("config.yaml", "best.keras", LAST_CHECKPOINT, LAST_STATE, "history.csv",
                "summary.json")


def write_json_atomically(path: str, content) -> None:
    """``json.dump`` into a temporary file beside ``path``, then rename it over ``path``."""
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunDirectory:
    """The run directory at ``path`` (created on :meth:`lock`)."""

    def __init__(self, path: str):
        self.path = path
        self._locked = False

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def holds_run(self) -> list[str]:
        """The run files present (empty: a new or empty directory)."""
        if not os.path.isdir(self.path):
            return []
        return [f for f in _RUN_MARKERS if os.path.exists(self.file(f))]

    def check_writable(self) -> None:
        """Refuse an output path that is a file or a directory we cannot write."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise UserError(f"--output {self.path} is a file, not a directory")
        parent = self.path
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        parent = parent or "."
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"cannot write the run directory {self.path}: {parent} is not "
                            f"writable")

    def check_new_run(self, overwrite: bool) -> None:
        """A new run may not replace one already in the directory unless ``overwrite``."""
        present = self.holds_run()
        if present and not overwrite:
            raise UserError(
                f"{self.path} already holds a run ({', '.join(present)}); use --resume to go "
                f"on with it, another --output, or --overwrite to replace it")

    def check_unlocked(self) -> None:
        """Refuse a directory whose lock is held by a live process (before any other check)."""
        path = self.file(LOCK_FILE)
        if os.path.exists(path):
            self._refuse_if_owned(path, self._owner(path))

    def _refuse_if_owned(self, path: str, owner: dict | None) -> None:
        if owner is not None and (owner.get("host") != socket.gethostname()
                                  or _pid_alive(int(owner.get("pid", -1)))):
            raise UserError(
                f"{self.path} is in use by process {owner.get('pid')} on {owner.get('host')} "
                f"(lock file {path}); wait for it to end, or delete the lock file if that "
                f"process is gone")

    def lock(self) -> None:
        """Create the directory and take its lock, or refuse when another process holds it."""
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the run directory {self.path}: "
                            f"{e.strerror}") from None
        path = self.file(LOCK_FILE)
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_if_owned(path, self._owner(path))
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)  # stale: its process has ended
                continue
            except OSError as e:
                raise UserError(f"cannot write the run directory {self.path}: "
                                f"{e.strerror}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self._locked = True
            return
        raise UserError(f"cannot take the lock {path}")

    @staticmethod
    def _owner(path: str) -> dict | None:
        """The lock's owner; None when the file is unreadable (taken as stale)."""
        try:
            with open(path, encoding="utf-8") as f:
                owner = json.load(f)
            int(owner["pid"])
            return owner
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def unlock(self) -> None:
        if self._locked:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.file(LOCK_FILE))
            self._locked = False

    def clear(self) -> None:
        """Remove the files of a previous run (``--overwrite``); other files stay."""
        for name in RUN_FILES:
            path = self.file(name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)

    def read_state(self) -> dict:
        """The resume state (``last_state.json``), checked; a damaged file is a UserError."""
        path = self.file(LAST_STATE)
        if not (os.path.isfile(path) and os.path.isfile(self.file(LAST_CHECKPOINT))):
            raise UserError(f"--resume: no checkpoint to resume in {self.path} (expected "
                            f"{LAST_STATE} and {LAST_CHECKPOINT})")
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            epochs_done = state["epochs_done"]
            if isinstance(epochs_done, bool) or not isinstance(epochs_done, int) or \
                    epochs_done < 1:
                raise ValueError("epochs_done")
            best = state.get("best_val_dsc")
            if best is not None and not isinstance(best, (int, float)):
                raise ValueError("best_val_dsc")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"--resume: {path} is damaged; it cannot be resumed (start a new "
                            f"run with another --output)") from None
        return state

    def __enter__(self) -> RunDirectory:
        self.lock()
        return self

    def __exit__(self, *exc) -> None:
        self.unlock()
