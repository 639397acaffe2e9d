"""A run folder belongs to one process at a time: ``<out>/run.lock``.

    with run_lock("runs/mine"):      # LockHeld if another live process holds it
        ...

The lock is a file created atomically (``O_CREAT | O_EXCL``) holding the owner's pid and host
(JSON). It is removed when the ``with`` block ends, on an error and on Ctrl-C too. A lock left
behind by a process that is gone (killed, or the machine rebooted) is stale: when its host is
this one and its pid no longer runs, the next run takes it over. A lock of another host cannot
be checked from here and is honoured; the message says which file to remove if that process is
gone. Within one process the lock is re-entrant (the command line holds it around the whole
run, ``fit`` takes it again around the training).
"""
import contextlib
import json
import os
import socket
import time

LOCK_NAME = "run.lock"

_held = {}          # realpath of a lock this process holds -> [depth, folder made by acquire]


class LockHeld(Exception):
    """The run folder is owned by another live process (the message names the folder, the
    process and the lock file). ``zfcore.trainer.RunLocked`` is its command-line face."""


def _owner(path):
    """The {'pid', 'host'} a lock file names, or None when it cannot be read (being written, or
    gone)."""
    try:
        with open(path) as f:
            info = json.load(f)
        return {"pid": int(info["pid"]), "host": str(info["host"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # another user's live process
        return True
    return True


def _stale(owner):
    """A lock nobody holds: unreadable (its writer died while writing it), or of a process of
    this host that no longer runs."""
    return owner is None or (owner["host"] == socket.gethostname()
                             and owner["pid"] != os.getpid() and not _alive(owner["pid"]))


def _create(path):
    """Create the lock file with our pid and host; False when it exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
    return True


def _take_over(path, owner):
    """Move a stale lock aside and create ours. Renaming is atomic, so of two processes taking
    over the same stale lock only one moves it; a lock found to be someone else's live one after
    the move is put back."""
    aside = "%s.stale-%d" % (path, os.getpid())
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return _create(path)
    if _owner(aside) != owner:                # not the stale lock we saw: give it back
        with contextlib.suppress(OSError):
            os.link(aside, path)
        os.remove(aside)
        return False
    os.remove(aside)
    return _create(path)


def acquire(out_dir):
    """Take ``out_dir``'s lock (creating the folder) or raise ``LockHeld``; returns the lock
    file's path. Re-entrant in one process. A folder made here and still empty at the last
    ``release`` is removed again (a run that failed on its arguments leaves nothing)."""
    path = os.path.join(out_dir, LOCK_NAME)
    key = os.path.realpath(path)
    if key in _held:
        _held[key][0] += 1
        return path
    made = not os.path.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for _ in range(5):
        if _create(path):
            break
        owner = _owner(path)
        if owner is None:                # being written just now, or gone: look again
            time.sleep(0.1)
            if not os.path.exists(path):
                continue
            owner = _owner(path)
        if not _stale(owner):
            raise LockHeld(
                "%s is being trained by process %d on %s (if that process is gone, remove %s)"
                % (out_dir, owner["pid"], owner["host"], path))
        if _take_over(path, owner):
            break
    else:
        raise LockHeld("%s: cannot take its lock %s (another process keeps taking it)"
                        % (out_dir, path))
    _held[key] = [1, made]
    return path


def release(out_dir):
    """Give back a lock taken by ``acquire`` (the file is removed at the last release)."""
    path = os.path.join(out_dir, LOCK_NAME)
    key = os.path.realpath(path)
    if key not in _held:
        return
    _held[key][0] -= 1
    if _held[key][0] == 0:
        made = _held.pop(key)[1]
        if (_owner(path) or {}).get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        if made:
            with contextlib.suppress(OSError):      # not empty: the run wrote something
                os.rmdir(out_dir)


@contextlib.contextmanager
def run_lock(out_dir):
    """``with run_lock(out_dir):`` the folder is this process's (see the module docstring)."""
    acquire(out_dir)
    try:
        yield os.path.join(out_dir, LOCK_NAME)
    finally:
        release(out_dir)
