"""What every command-line entry point shares (``python -m zfcore.train | evaluate | visualize |
data``): one line ``zfcore.<command>: error: <what is wrong>`` and exit 2 for a user's mistake
(a bad argument, a missing or unreadable input, an output that cannot be written), exit 130 on
Ctrl-C, a quiet exit 141 on a closed output pipe; a bug still shows its traceback. The same
words everywhere: ``--device auto|cpu|gpu``; a checkpoint or its run folder."""
import argparse
import contextlib
import os
import re
import sys

DEVICES = ("auto", "cpu", "gpu")
_DEVICE_ALIASES = {"numpy": "cpu", "cupy": "gpu"}      # the older words of zfcore.visualize


class UsageError(Exception):
    """A bad argument value or combination; the message names the argument."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors raise UsageError (one line through ``run``, and an exception for
    in-process callers) instead of printing the usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def _device_word(value):
    return _DEVICE_ALIASES.get(value, value)


def add_device_argument(parser):
    """``--device auto|cpu|gpu`` (default auto); 'numpy' and 'cupy' are accepted as 'cpu' and
    'gpu'. Pass the value to ``resolve_device``."""
    parser.add_argument("--device", default="auto", type=_device_word, choices=DEVICES,
                        help="auto (the GPU when CuPy sees one), cpu or gpu (default auto)")


def resolve_device(name):
    """``--device`` auto | cpu | gpu -> 'numpy' or 'cupy' ('auto': 'cupy' when CuPy sees a GPU).
    Raises UsageError for 'gpu' without CuPy or a device, and for a word it does not know."""
    from zfcore.backend import cupy_or_none
    name = _device_word(name)
    if name not in DEVICES:
        raise UsageError("--device: %r is not one of %s" % (name, ", ".join(DEVICES)))
    if name == "gpu":
        if cupy_or_none() is None:
            from zfcore.backend import cupy_unusable_reason
            raise UsageError("--device gpu: CuPy is unusable: %s (pip install 'zfcore[cuda13]' "
                             "on a machine with an NVIDIA driver)" % cupy_unusable_reason())
        return "cupy"
    if name == "auto" and cupy_or_none() is not None:
        return "cupy"
    return "numpy"


def checkpoint_path(arg, name="checkpoint.h5"):
    """A checkpoint argument as a file: a run folder means its ``checkpoint.h5``. Raises
    UsageError for a folder without one; any other path is returned as given (the loader says
    if it is missing or unreadable)."""
    arg = os.fspath(arg)
    if os.path.isdir(arg):
        path = os.path.join(arg, name)
        if not os.path.isfile(path):
            raise UsageError("checkpoint %s: a folder with no %s in it" % (arg, name))
        return path
    return arg


@contextlib.contextmanager
def writing(path):
    """Around code that writes into ``path`` (a file or an output folder): an OSError that names
    no file (a full disk on ``write``, h5py's errors) is given ``path``, so the one line says
    which output failed."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            e.filename = os.fspath(path)
        raise


def user_errors():
    """The exception types that mean "the user's input is wrong" (not a bug in zfcore)."""
    from zfcore.checkpoint import CheckpointError
    from zfcore.data import DataError
    from zfcore.trainer import TrainingError
    return (UsageError, CheckpointError, DataError, TrainingError)


def first_line(e):
    text = str(e)
    return text.splitlines()[0] if text.strip() else type(e).__name__


def os_error_line(e):
    """'<path>: <reason>' for an OSError, also for h5py's (which name the file only inside their
    message and put the whole message in ``strerror``)."""
    text = str(e)
    path = e.filename
    if path is None:
        m = re.search(r"(?:file)?name = '([^']*)'", text)
        path = m.group(1) if m else None
    reason = os.strerror(e.errno) if e.errno else (e.strerror or first_line(e))
    if path is None:
        return reason
    if getattr(e, "filename2", None) is not None:
        return "%s -> %s: %s" % (os.fspath(path), os.fspath(e.filename2), reason)
    return "%s: %s" % (os.fspath(path), reason)


def _say(line):
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):       # stderr closed too: the exit code still says it
        pass


def run(main, argv=None, prog="zfcore"):
    """Call ``main(argv)`` and return what it returns (in-process callers use it). A user error
    prints ``prog: error: <one line>`` and exits 2 (an OSError as '<path>: <reason>'), Ctrl-C
    prints ``prog: interrupted`` (and the KeyboardInterrupt's message, if any) and exits 130, a
    closed output pipe exits 141 quietly. Anything else is a bug: its traceback is shown."""
    try:
        code = main(argv)
    except user_errors() as e:
        _say("%s: error: %s" % (prog, first_line(e)))
        sys.exit(2)
    except KeyboardInterrupt as e:
        _say("%s: interrupted%s" % (prog, "; %s" % e if str(e) else ""))
        sys.exit(130)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as command-line tools do
        _quiet_stdout()
        sys.exit(141)
    except OSError as e:     # input or output: missing, read-only, full disk, not a folder
        _say("%s: error: %s" % (prog, os_error_line(e)))
        sys.exit(2)
    try:
        sys.stdout.flush()   # a pipe closed under the last lines shows here
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(141)
    return code


def _quiet_stdout():
    """Point stdout at /dev/null so the interpreter's own flush at exit does not complain."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
