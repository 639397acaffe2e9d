"""What every command-line entry point shares: one clear line and a non-zero exit for a user's
mistake, never a traceback."""
import os
import sys


class UsageError(Exception):
    """A bad argument value or combination; the message names the argument."""


def resolve_device(name):
    """``--device`` auto | cpu | gpu -> 'numpy' or 'cupy' ('auto': 'cupy' when CuPy sees a GPU).
    Raises UsageError for 'gpu' without CuPy or a device."""
    from zfcore.backend import cupy_or_none
    if name == "gpu":
        if cupy_or_none() is None:
            raise UsageError("--device gpu: CuPy or a CUDA device is missing "
                             "(pip install 'zfcore[cuda13]')")
        return "cupy"
    if name == "auto" and cupy_or_none() is not None:
        return "cupy"
    return "numpy"


def user_errors():
    """The exception types that mean "the user's input is wrong" (not a bug in zfcore)."""
    from zfcore.checkpoint import CheckpointError
    from zfcore.data import DataError
    from zfcore.trainer import TrainingError
    return (UsageError, CheckpointError, DataError, TrainingError)


def run(main, argv=None, prog="zfcore"):
    """Call ``main(argv)``; turn a user error into ``prog: error: <one line>`` and exit 2, Ctrl-C
    into exit 130, and a closed output pipe into a quiet exit 141."""
    try:
        return main(argv)
    except user_errors() as e:
        print("%s: error: %s" % (prog, str(e).splitlines()[0] if str(e) else type(e).__name__),
              file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("%s: interrupted" % prog, file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
