"""GPU input feeding (zfcore.data.gpu_feed) gives the batches of zfcore.data.batches bit for bit:
the same order, crops, flips and float32 values, for training crops inside the image, training
crops of the whole (reflect-padded) image, evaluation centre crops, a last short batch and a
dataset without a mean; on NumPy (the conversion written against the array module) and, on the
GPU run, through pinned memory and the side stream. Also the training loop's device-side
bookkeeping (zfcore.trainer._Tally): the sums of a read match step-by-step sums, a NaN names its
step, and the stats between reads are those of the last read."""
import numpy as np
import pytest

from tests.gpu.helpers import SKIP_NO_GPU, host
from zfcore.backend import cupy_or_none
from zfcore.data import Dataset, batches
from zfcore.data.gpu_feed import device_batches
from zfcore.trainer import _Tally

XPS = ["numpy", pytest.param("cupy", marks=[pytest.mark.gpu, SKIP_NO_GPU])]


def dataset(n=11, size=16, mean=True, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    m = (rng.random((size, size, 3)) * 255).astype(np.float32) if mean else None
    ds = Dataset(images, rng.integers(0, 5, n), list("abcde"), np.zeros((size, size, 3)), "t",
                 "train")
    ds.mean = m
    return ds


@pytest.mark.parametrize("xp", XPS)
@pytest.mark.parametrize("case", ["train crop < size", "train whole image, padded", "eval",
                                  "no mean", "pad 0 flips only"])
def test_device_batches_equal_the_cpu_batches(xp, case):
    module = np if xp == "numpy" else cupy_or_none()
    ds = dataset(mean=case != "no mean")
    crop, train, pad = {"train crop < size": (12, True, None),
                        "train whole image, padded": (16, True, None), "eval": (12, False, None),
                        "no mean": (11, True, None), "pad 0 flips only": (16, True, 0)}[case]
    kw = dict(train=train, seed=3, epoch=2, pad=pad)
    want = list(batches(ds, 4, crop, **kw))
    got = [host(b) for b in device_batches(ds, 4, crop, xp=module, **kw)]
    assert len(got) == len(want) == 3                       # 4 + 4 + 3: a short last batch
    for (x, y), (xw, yw) in zip(got, want):
        assert x.dtype == np.float32 and x.shape == xw.shape
        assert np.array_equal(x, xw), "batch values differ (max %g)" % np.abs(x - xw).max()
        assert np.array_equal(y, yw)


def test_tally_reads_in_one_go_what_step_by_step_reading_gives():
    rng = np.random.default_rng(0)
    losses = rng.random(7).astype(np.float32) * 3
    counts = rng.integers(0, 9, 7)
    one, batched = _Tally(every=1), _Tally(every=3)
    seen_stats = []
    for step, (loss, right) in enumerate(zip(losses, counts), 1):
        for t in (one, batched):
            t.add(np.float32(loss), np.int64(right), 8, step)
            if t.due():
                assert t.read() is None
        seen_stats.append(batched.stats(step, 0.0)["seen"])
    assert batched.read() is None                          # the epoch's end
    assert (one.seen, one.correct, one.loss_sum) == (batched.seen, batched.correct,
                                                      batched.loss_sum)
    assert one.loss_sum == sum(float(v) * 8 for v in losses)
    assert seen_stats == [0, 0, 24, 24, 24, 48, 48]         # stale between reads


def test_tally_names_the_first_non_finite_step():
    t = _Tally(every=4)
    for step, loss in enumerate([1.0, 2.0, np.nan, np.inf], 1):
        t.add(np.float32(loss), np.int64(1), 2, step)
    bad = t.read()
    assert bad is not None and np.isnan(bad[0]) and bad[1] == 3
    assert t.seen == 4 and t.loss_sum == 6.0                 # the two good steps before it
