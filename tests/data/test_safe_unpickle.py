"""CIFAR-10 batches are pickles: they are read with ``cifar.BatchUnpickler``, which builds only
dicts, lists, strings, numbers and NumPy arrays, so a crafted "CIFAR-10 folder" cannot run code."""
import io
import os
import pickle

import numpy as np
import pytest

from zfcore.data import DataError, cifar, open_dataset

from .conftest import make_cifar

SHARED_BATCHES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                              "cifar10-jpeg", "cifar-10-batches-py")
CALLS = []


def record_call(tag):
    """What the crafted pickles below ask to be called while they load."""
    CALLS.append(tag)
    return tag


class CallsAFunction:
    """Pickles as 'call record_call(tag)' (a module-level function of this test)."""

    def __init__(self, tag):
        self.tag = tag

    def __reduce__(self):
        return record_call, (self.tag,)


class RunsAShellCommand:
    """Pickles as 'call os.system(command)'."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def write_batch(path, data):
    d = {b"batch_label": b"crafted", b"data": data, b"labels": [0, 1]}
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


def test_the_crafted_pickles_do_run_code_under_plain_pickle(tmp_path):
    """The control: the payloads below are real (plain ``pickle.load`` calls them), so the
    refusals in the next tests are the unpickler's doing."""
    CALLS.clear()
    marker = tmp_path / "marker"
    write_batch(tmp_path / "a", CallsAFunction("plain"))
    write_batch(tmp_path / "b", RunsAShellCommand("touch %s" % marker))
    for name in ("a", "b"):
        with open(tmp_path / name, "rb") as f:
            pickle.load(f, encoding="bytes")
    assert CALLS == ["plain"] and marker.exists()


@pytest.mark.parametrize("payload", ["function", "shell"])
def test_a_pickle_that_calls_a_function_is_refused_and_nothing_runs(tmp_path, payload):
    CALLS.clear()
    root = make_cifar(tmp_path / "cifar")
    marker = tmp_path / "marker"
    bad = os.path.join(root, "data_batch_3")
    write_batch(bad, CallsAFunction("safe") if payload == "function"
                else RunsAShellCommand("touch %s" % marker))
    with pytest.raises(DataError) as e:
        open_dataset(root, "train")
    line = str(e.value)
    assert "\n" not in line and line.startswith(bad + ": refused")
    named = "record_call" if payload == "function" else "system"
    assert named in line
    assert CALLS == [] and not marker.exists()


def test_other_codecs_and_bytes_with_arguments_are_refused(tmp_path):
    """The two builtins the format may name are narrowed to what pickle writes for bytes:
    ``_codecs.encode(s, 'latin1')`` and ``bytes()``."""
    for i, raw in enumerate([b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13"
                             b"\x86R.",
                             b"\x80\x02c__builtin__\nbytes\nK\x10\x85R."]):
        path = tmp_path / ("p%d" % i)
        path.write_bytes(raw)
        pickle.loads(raw)          # a valid pickle: plain pickle would run it
        with pytest.raises(DataError, match="refused"):
            cifar.read_pickle(str(path))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_batches_pickled_by_python3_and_numpy_still_load(protocol):
    """A batch dict pickled again (any protocol, NumPy's own names, numpy int labels, bytes and
    str values) comes back equal to what was pickled."""
    data = (np.arange(2 * 3072) % 251).astype(np.uint8).reshape(2, 3072)
    d = {b"data": data, b"labels": [3, np.int64(7)], b"batch_label": b"", b"note": "str",
         b"misc": (None, 1.5, True, 2 ** 70)}
    out = cifar.BatchUnpickler(io.BytesIO(pickle.dumps(d, protocol=protocol)),
                               encoding="bytes").load()
    np.testing.assert_array_equal(out[b"data"], data)
    assert out[b"labels"] == [3, 7] and out[b"batch_label"] == b"" and out[b"note"] == "str"
    assert out[b"misc"] == (None, 1.5, True, 2 ** 70)


@pytest.mark.skipif(not os.path.isdir(SHARED_BATCHES),
                    reason="the shared CIFAR-10 copy (../shared/data/cifar10-jpeg) is absent")
def test_the_shared_cifar10_batch_loads_as_plain_pickle_reads_it():
    """The shared copy is pickled as the originals are (Python 2, protocol 2): one batch read
    through the restricted unpickler equals the same batch read by plain (trusting) pickle."""
    path = os.path.join(SHARED_BATCHES, "test_batch")
    images, labels = cifar.read_batch(path)
    with open(path, "rb") as f:
        plain = pickle.load(f, encoding="bytes")
    expected = np.asarray(plain[b"data"]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels, plain[b"labels"])
    assert images.shape == (10000, 32, 32, 3) and np.bincount(labels).tolist() == [1000] * 10
    meta = cifar.read_pickle(os.path.join(SHARED_BATCHES, "batches.meta"))
    assert meta[b"label_names"][:2] == [b"airplane", b"automobile"]
