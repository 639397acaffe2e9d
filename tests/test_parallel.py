"""zfcore.parallel: a pass split over threads in cache-sized pieces is the serial pass, bit for bit.

Each op runs twice on the same data: once whole on one thread (no pieces), once cut into many
small pieces on several threads; the two results must be identical (not merely close: every
piece writes its own slice with the same operations). The op's values themselves are checked
against naive loops in tests/layers.
"""
import threading
import time

import numpy as np
import pytest

from zfcore import parallel
from zfcore.layers import activation, conv, lrn, pool
from zfcore.optim import sgd_step


@pytest.fixture
def split_small(monkeypatch):
    """Run the block with 3 threads and pieces of ~64 elements: every pass splits."""
    def use(threads, piece, min_work):
        parallel.set_threads(threads)
        monkeypatch.setattr(parallel, "PIECE", piece)
        monkeypatch.setattr(parallel, "MIN_WORK", min_work)
    yield use
    parallel.set_threads(parallel._default_threads())


def twice(split_small, fn):
    """fn() serial and whole, then fn() in many pieces on 3 threads."""
    split_small(1, 1 << 40, 1 << 40)
    serial = fn()
    split_small(3, 64, 64)
    return serial, fn()


def assert_same(a, b):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_over_covers_the_range_once_on_several_threads(split_small):
    split_small(3, 64, 64)
    seen, lock = [], threading.Lock()

    def body(lo, hi):
        time.sleep(0.005)                     # long enough for every helper to wake and take some
        with lock:
            seen.append((lo, hi, threading.get_ident()))

    parallel.over(50, body, 50 * 64)
    covered = sorted(i for lo, hi, _ in seen for i in range(lo, hi))
    assert covered == list(range(50))
    assert len(seen) > 3 and len({t for _, _, t in seen}) == 3


def test_over_stays_whole_when_the_pass_is_small(split_small):
    split_small(2, 1 << 19, 1 << 20)
    calls = []
    parallel.over(100, lambda lo, hi: calls.append((lo, hi)), 1000)
    assert calls == [(0, 100)]


def test_an_error_in_a_piece_is_raised_once_no_piece_is_running(split_small):
    split_small(3, 64, 64)
    started, ended = set(), set()

    def body(lo, hi):
        started.add(lo)
        time.sleep(0.002)
        if lo == 3:
            raise ValueError("piece 3")
        ended.add(lo)

    with pytest.raises(ValueError, match="piece 3"):
        parallel.over(12, body, 12 * 64)
    assert started - ended == {3}             # every other piece that began had finished


def test_a_pass_inside_a_piece_runs_whole_on_its_thread(split_small):
    split_small(2, 64, 64)
    inner = []
    parallel.over(4, lambda lo, hi: parallel.over(
        10, lambda a, b: inner.append((a, b, threading.get_ident())), 10 * 64), 4 * 64)
    assert all((a, b) == (0, 10) for a, b, _ in inner) and len(inner) == 4


@pytest.mark.parametrize("shape,k,s,ceil", [((3, 5, 11, 9), 3, 2, True),
                                            ((2, 4, 12, 12), 3, 2, False),
                                            ((2, 3, 7, 8), 2, 2, True), ((1, 6, 9, 9), 3, 1, True)])
def test_maxpool_and_unpool_split_equal_whole(split_small, shape, k, s, ceil):
    x = normal(shape, 1)
    x[0, 0, :3, :3] = 1.0                                      # ties: the first offset wins
    y, sw = pool.maxpool_forward(x, k, s, ceil)
    r = normal(y.shape, 2)
    assert_same(*twice(split_small, lambda: pool.maxpool_forward(x, k, s, ceil)))
    assert_same(*twice(split_small, lambda: pool.unpool(r, sw, x.shape, k, s)))


def test_lrn_and_relu_split_equal_whole(split_small):
    a, dy = normal((6, 7, 5, 4), 3), normal((6, 7, 5, 4), 4)
    b, d = lrn.lrn_forward(a, 5, 1e-2, 0.75, 2.0)
    assert_same(*twice(split_small, lambda: lrn.lrn_forward(a, 5, 1e-2, 0.75, 2.0)))
    assert_same(*twice(split_small, lambda: lrn.lrn_backward(dy, a, b, d, 5, 1e-2, 0.75)))
    assert_same(*twice(split_small, lambda: activation.relu_forward(a)))
    assert_same(*twice(split_small, lambda: activation.relu_backward(dy, a)))


@pytest.mark.parametrize("s,p", [(1, 1), (2, 1), (1, 0), (3, 2)])
def test_conv_passes_split_equal_whole(split_small, s, p):
    x, W, b = normal((3, 5, 10, 9), 5), normal((4, 5, 3, 3), 6), normal((4,), 7)
    y, cols = conv.conv_forward(x, W, b, s, p)
    dy = normal(y.shape, 8)
    assert_same(*twice(split_small, lambda: conv.conv_forward(x, W, b, s, p, relu=True)))
    assert_same(*twice(split_small, lambda: conv.im2col(x, 3, s, p)))
    assert_same(*twice(split_small, lambda: conv.col2im(conv.im2col(x, 3, s, p), x.shape, 3, s,
                                                         p)))
    assert_same(*twice(split_small, lambda: conv.dy_rows(dy, conv.wide_geometry(10, 9, 3, p)[1])))
    assert_same(*twice(split_small, lambda: conv.conv_backward_data(dy, W, x.shape, s, p)))


@pytest.mark.parametrize("s,p", [(1, 1), (2, 1), (1, 0), (3, 2)])
def test_conv_in_image_blocks_equals_the_whole_batch_pass(split_small, monkeypatch, s, p):
    """The NumPy layer's path (columns, product, output write and both gradients block by block
    of images, BLAS on one thread per block) against the whole-batch functions; and the blocks'
    dW and db are the same numbers on 1 and on 3 threads (added in block order, not in the order
    the blocks finish)."""
    x, W, b = normal((7, 5, 10, 9), 9), normal((4, 5, 3, 3), 10), normal((4,), 11)
    y, cols = conv.conv_forward(x, W, b, s, p, relu=True)
    dy = normal(y.shape, 12)
    rows = conv.conv_dy_rows(dy, x.shape, 3, s, p, mask=y)
    dW, db = conv.conv_backward_params(dy * (y > 0), cols, W.shape, rows)
    dx = conv.conv_backward_data(dy * (y > 0), W, x.shape, s, p, rows)

    def blocks(threads):
        split_small(threads, 64, 64)                  # 7 blocks of one image each
        return (conv.conv_forward_blocks(x, W, b, s, p, relu=True),
                *conv.conv_backward_blocks(x, dy, W, s, p, mask=y))

    made = []
    real = conv._block_columns
    monkeypatch.setattr(conv, "_block_columns",
                        lambda xb, *a: made.append(len(xb)) or real(xb, *a))
    one, three = blocks(1), blocks(3)
    assert made == [1] * 28                           # forward and backward, on 1 and 3 threads
    assert_same(one, three)
    for got, want in zip(three, (y, dx, dW, db)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    no_dx, dW2, _ = conv.conv_backward_blocks(x, dy, W, s, p, mask=y, need_dx=False)
    assert no_dx is None
    np.testing.assert_array_equal(dW2, three[2])


def test_sgd_step_in_blocks_equals_the_whole_array_update(split_small, monkeypatch):
    import zfcore.optim as optim
    monkeypatch.setattr(optim, "SGD_BLOCK", 7)
    w, g, v = normal((5, 3, 4, 4), 9), normal((5, 3, 4, 4), 10), normal((5, 3, 4, 4), 11)
    w2, v2 = w.copy(), v.copy()
    split_small(3, 64, 64)
    sgd_step(w2, g, v2, 1e-2, 0.9, 5e-4)
    # the formula of Z&F Sec. 3 on whole arrays, in the order the module docstring gives
    step = np.float32(1e-2) * (g + np.float32(5e-4) * w)
    v_want = np.float32(0.9) * v - step
    np.testing.assert_array_equal(v2, v_want)
    np.testing.assert_array_equal(w2, w + v_want)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_splits_passes_on_a_pool_of_its_own(split_small):
    """The parent's pool threads do not survive a fork: the child must start its own, so that
    its passes still run on 2 threads (and give the parent's result)."""
    import os
    split_small(2, 64, 64)
    x = normal((64, 50), 12)
    want = activation.relu_forward(x)                       # the parent's pool is running now
    pid = os.fork()
    if pid == 0:                                            # the child: split a pass again
        threads, lock = set(), threading.Lock()

        def body(lo, hi):
            time.sleep(0.005)                               # time for the helper to take some
            with lock:
                threads.add(threading.get_ident())

        parallel.over(40, body, 40 * 64)
        ok = len(threads) == 2 and np.array_equal(activation.relu_forward(x), want)
        os._exit(0 if ok else 1)
    deadline = time.time() + 60
    while True:                                             # a child that hangs is a failure
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish its pass within 60 s")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
