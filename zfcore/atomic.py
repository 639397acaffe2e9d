"""Write a file so that it is either the old one or the complete new one, never half of it, and
leave no temporary file behind when the write fails (full disk, permission denied, Ctrl-C).

    with atomic_write(path, "w") as f:      # a file object on path + '.tmp'
        f.write(...)
    with atomic_path(path) as tmp:          # the temporary name, for writers that open it
        h5py.File(tmp, "w") ...             # themselves (h5py, matplotlib, np.savez)

On success the temporary file is flushed to disk and renamed over ``path`` (``os.replace``:
atomic on one file system). On any exception it is removed and the exception re-raised; an
``OSError`` that names no file is given ``path``, so the message says which output failed.
Level 0: the standard library only."""
import contextlib
import errno
import os

__all__ = ["atomic_path", "atomic_write"]


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:            # e.g. a file system or device that cannot sync
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield ``path + suffix``; on a clean exit sync it and rename it over ``path``; on any
    exception remove it and re-raise."""
    path = os.fspath(path)
    tmp = path + suffix
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = path
        raise


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_args):
    """``open(path + '.tmp', mode)``, renamed over ``path`` once the block ends cleanly; removed
    on any exception. ``mode``: 'w', 'wb', 'w+' ... (the temporary file starts empty)."""
    if "w" not in mode:
        raise ValueError("atomic_write: mode %r does not write" % mode)
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_args) as f:
            yield f
