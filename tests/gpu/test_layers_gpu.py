"""Every GPU forward, backward and deconv against the NumPy reference, on Hypothesis-drawn shapes:
ceil-mode edge windows, 1x1 maps, batch 1, non-square inputs, channel counts that are not
multiples of anything. Each test runs on the real GPU (``gpu`` marker) and on the emulator."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.gpu.helpers import DEVICES, assert_close, run_on
from zfcore import backend
from zfcore.layers import LRN, Dropout, MaxPool2D, ReLU, SoftmaxCrossEntropy
from zfcore.layers.activation import relu_backward, relu_deconv, relu_forward, relu_guided
from zfcore.layers import naive
from zfcore.layers.conv import (col2im, conv_backward_data, conv_backward_params, conv_forward,
                                dy_rows, im2col)
from zfcore.layers.dropout import dropout_gpu
from zfcore.layers.lrn import lrn_backward, lrn_forward
from zfcore.layers.pool import maxpool_forward, unpool

SETTINGS = settings(max_examples=25, deadline=None)


def distinct(shape, seed):
    """Values with no ties (a shuffled range), so every window has one maximum."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float32) / max(n, 1) - 0.5).reshape(shape)


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -- max-pool and unpool ------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(k, 17)),
            draw(st.integers(k, 17)), k, s, draw(st.booleans()), draw(st.integers(0, 2 ** 31)))


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(pool_cases())
@example((1, 1, 1, 1, 1, 1, True, 0))        # 1x1 map
@example((2, 3, 6, 9, 3, 2, True, 1))        # clipped last window, both directions
@example((1, 5, 110, 110, 3, 2, True, 2))    # ZFNet pool1 geometry: 110 -> 55
@example((1, 2, 13, 13, 3, 2, True, 3))      # pool5: 13 -> 6 (no clipping)
def test_maxpool_forward_and_unpool(device, case):
    n, c, h, w, k, s, ceil_mode, seed = case
    x = distinct((n, c, h, w), seed)
    y, sw = maxpool_forward(x, k, s, ceil_mode)
    r = normal(y.shape, seed + 1)
    want = unpool(r, sw, x.shape, k, s)
    y_d, sw_d = run_on(device, lambda x: maxpool_forward(x, k, s, ceil_mode), x)
    assert_close(sw_d, sw, "exact", "switches")
    assert_close(y_d, y, "exact", "maxpool y")
    got = run_on(device, lambda r, sw: unpool(r, sw, x.shape, k, s), r, sw)
    assert_close(got, want, "sum", "unpool")


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(pool_cases())
def test_maxpool_ties_go_to_first_offset(device, case):
    n, c, h, w, k, s, ceil_mode, seed = case
    x = np.random.default_rng(seed).integers(0, 3, (n, c, h, w)).astype(np.float32)  # many ties
    y, sw = maxpool_forward(x, k, s, ceil_mode)
    y_d, sw_d = run_on(device, lambda x: maxpool_forward(x, k, s, ceil_mode), x)
    assert_close(sw_d, sw, "exact", "switches with ties")
    assert_close(y_d, y, "exact", "maxpool y with ties")


@pytest.mark.parametrize("device", DEVICES)
def test_maxpool_layer_backward_and_deconv(device):
    x = distinct((2, 3, 11, 7), 5)
    ref = MaxPool2D(3, 2)
    y = ref.forward(x)
    dy = normal(y.shape, 6)

    def layer(x, dy):
        pool = MaxPool2D(3, 2)
        out = pool.forward(x)
        return out, pool.switches, pool.backward(dy), pool.deconv(dy)

    y_d, sw_d, dx_d, r_d = run_on(device, layer, x, dy)
    assert_close(sw_d, ref.switches, "exact", "layer switches")
    assert_close(y_d, y, "exact", "layer y")
    assert_close(dx_d, ref.backward(dy), "sum", "layer backward")
    assert_close(r_d, ref.deconv(dy), "sum", "layer deconv")


# -- convolution ---------------------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    k = draw(st.integers(1, 5))
    p = draw(st.integers(0, 2))
    lo = max(1, k - 2 * p)
    return (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 7)),
            draw(st.integers(lo, 13)), draw(st.integers(lo, 13)), k, draw(st.integers(1, 3)), p,
            draw(st.integers(0, 2 ** 31)))


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(conv_cases())
@example((1, 3, 5, 1, 1, 1, 1, 0, 0))        # 1x1 map, 1x1 filter
@example((2, 3, 6, 23, 23, 7, 2, 1, 1))      # conv1 geometry (7x7/2 pad 1)
@example((1, 5, 7, 9, 4, 3, 2, 2, 2))        # non-square, padding larger than the map's border
def test_conv_forward_backward_deconv(device, case):
    n, c, c_out, h, w, k, s, p, seed = case
    x = normal((n, c, h, w), seed)
    W = normal((c_out, c, k, k), seed + 1)
    b = normal((c_out,), seed + 2)
    y, cols = conv_forward(x, W, b, s, p)
    dy = normal(y.shape, seed + 3)
    dW, db = conv_backward_params(dy, cols, W.shape)

    def gpu(x, W, b, dy):
        y, cols = conv_forward(x, W, b, s, p)
        dW, db = conv_backward_params(dy, cols, W.shape)
        return y, cols, conv_backward_data(dy, W, x.shape, s, p), dW, db

    y_d, cols_d, dx_d, dW_d, db_d = run_on(device, gpu, x, W, b, dy)
    assert_close(cols_d, im2col(x, k, s, p), "exact", "im2col")  # NumPy's stride 1 is wide
    assert_close(y_d, y, "float32", "conv y")
    assert_close(dx_d, conv_backward_data(dy, W, x.shape, s, p), "float32", "conv dx (= deconv)")
    assert_close(dW_d, dW, "float32", "conv dW")
    assert_close(db_d, db, "float32", "conv db")


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=10, deadline=None)
@given(conv_cases())
@example((2, 3, 6, 23, 23, 7, 2, 1, 1))      # conv1 geometry
def test_conv_bias_relu_fused_and_dy_rows(device, case):
    """The fused bias + ReLU + NCHW pass against the loops of zfcore.layers.naive (float64),
    rectified; and the one transposed dy of backward against NumPy's transpose."""
    n, c, c_out, h, w, k, s, p, seed = case
    x = normal((n, c, h, w), seed)
    W = normal((c_out, c, k, k), seed + 1)
    b = normal((c_out,), seed + 2)
    want = np.maximum(naive.conv(x.astype(np.float64), W.astype(np.float64),
                                 b.astype(np.float64), s=s, p=p), 0)
    dy = normal(want.shape, seed + 3)
    y_relu, y_plain, rows = run_on(device, lambda x, W, b, dy: (
        conv_forward(x, W, b, s, p, relu=True)[0], conv_forward(x, W, b, s, p)[0],
        dy_rows(dy)), x, W, b, dy)
    assert_close(y_relu, want, "float32", "conv + relu fused")
    assert (y_relu >= 0).all() and np.array_equal(y_relu, np.maximum(y_plain, 0))
    assert_close(rows, dy.transpose(1, 0, 2, 3).reshape(c_out, -1), "exact", "dy rows")


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(conv_cases())
def test_im2col_col2im(device, case):
    n, c, _, h, w, k, s, p, seed = case
    x = normal((n, c, h, w), seed)
    cols = im2col(x, k, s, p)
    dcols = normal(cols.shape, seed + 1)
    assert_close(run_on(device, lambda x: im2col(x, k, s, p), x), cols, "exact", "im2col")
    assert_close(run_on(device, lambda d: col2im(d, x.shape, k, s, p), dcols),
                 col2im(dcols, x.shape, k, s, p), "sum", "col2im")


# -- LRN -----------------------------------------------------------------------------------------
LRN_PARAMS = [(1e-4, 0.75, 2.0), (1.0, 0.75, 1.0), (0.5, 0.6, 1.0)]  # k=1, alpha=1: the sum matters


@st.composite
def lrn_cases(draw):
    return (draw(st.integers(1, 2)), draw(st.integers(1, 40)), draw(st.integers(1, 6)),
            draw(st.integers(1, 6)), draw(st.sampled_from([1, 3, 5, 7])),
            draw(st.sampled_from(LRN_PARAMS)), draw(st.integers(0, 2 ** 31)))


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(lrn_cases())
@example((1, 1, 1, 1, 5, (1.0, 0.75, 1.0), 0))      # one channel: the window is clipped both ways
@example((2, 96, 3, 5, 5, (1.0, 0.75, 1.0), 1))     # norm1's channel count
def test_lrn_forward_backward(device, case):
    n, c, h, w, size, (alpha, beta, k), seed = case
    a = normal((n, c, h, w), seed)
    dy = normal(a.shape, seed + 1)
    b, d = lrn_forward(a, size, alpha, beta, k)
    dx = lrn_backward(dy, a, b, d, size, alpha, beta)

    def pure(a, dy):
        b, d = lrn_forward(a, size, alpha, beta, k)
        return b, d, lrn_backward(dy, a, b, d, size, alpha, beta)

    def layer(a, dy):  # the layer's path: d not stored, recomputed by backward
        lay = LRN(size, alpha, beta, k)
        return lay.forward(a), lay.backward(dy), lay.deconv(dy)

    b_d, d_d, dx_d = run_on(device, pure, a, dy)
    assert_close(b_d, b, "float32", "lrn b")
    assert_close(d_d, d, "float32", "lrn d")
    assert_close(dx_d, dx, "float32", "lrn dx (d given)")
    b_l, dx_l, r_l = run_on(device, layer, a, dy)
    assert_close(b_l, b, "float32", "LRN layer forward")
    assert_close(dx_l, dx, "float32", "LRN layer backward (d recomputed)")
    assert_close(r_l, dy, "exact", "LRN deconv is the identity")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("runs", [2, 3, 7])
def test_lrn_channel_runs(device, runs, monkeypatch):
    """Threads that start mid-column warm their running sums up correctly."""
    import zfcore.layers.lrn as lrn_module
    a, dy = normal((2, 23, 3, 2), 7), normal((2, 23, 3, 2), 8)
    for size in (1, 3, 5, 9):
        b, d = lrn_forward(a, size, 1.0, 0.75, 1.0)
        dx = lrn_backward(dy, a, b, d, size, 1.0, 0.75)
        monkeypatch.setattr(lrn_module, "_channel_runs", lambda n, c, hw, size: -(-c // runs))
        lay = LRN(size, 1.0, 0.75, 1.0)
        b_d, dx_d = run_on(device, lambda a, dy: (lay.forward(a), lay.backward(dy)), a, dy)
        monkeypatch.undo()
        assert_close(b_d, b, "float32", "lrn b, %d runs, size %d" % (runs, size))
        assert_close(dx_d, dx, "float32", "lrn dx, %d runs, size %d" % (runs, size))


# -- ReLU ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 9), st.integers(1, 9)),
       st.integers(0, 2 ** 31))
def test_relu_all_directions(device, shape, seed):
    x = normal(shape, seed)
    x[x == 0] = 1.0  # keep off the kink
    r = normal(shape, seed + 1)
    want = (relu_forward(x), relu_backward(r, x), relu_deconv(r), relu_guided(r, x))
    got = run_on(device, lambda x, r: (relu_forward(x), relu_backward(r, x), relu_deconv(r),
                                       relu_guided(r, x)), x, r)
    for g, w_, what in zip(got, want, ("forward", "backward", "deconv", "guided")):
        assert_close(g, w_, "exact", "relu " + what)

    def layer(x, r):
        lay = ReLU()
        return lay.forward(x), lay.backward(r), lay.deconv(r), lay.guided(r)

    for g, w_, what in zip(run_on(device, layer, x, r), want,
                           ("forward", "backward", "deconv", "guided")):
        assert_close(g, w_, "exact", "ReLU layer " + what)


# -- dropout -------------------------------------------------------------------------------------
def philox4x32_10(ctr, key):
    """Reference Philox-4x32-10 (Salmon et al. 2011), in Python integers."""
    c, k = list(ctr), list(key)
    m = 0xFFFFFFFF
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k[0]) & m, p1 & m, ((p0 >> 32) ^ c[3] ^ k[1]) & m, p0 & m]
        k = [(k[0] + 0x9E3779B9) & m, (k[1] + 0xBB67AE85) & m]
    return c


def test_philox_reference_known_answers():
    """Random123's known-answer vectors for philox4x32_10."""
    assert philox4x32_10([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox4x32_10([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2) == [0x408F276D, 0x41C83B0E,
                                                                 0xA20BC7C6, 0x6D5451FD]
    assert philox4x32_10([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
                         [0xA4093822, 0x299F31D0]) == [0xD16CFE09, 0x94FDCCEB,
                                                       0x5001E420, 0x24126EA1]


@pytest.mark.parametrize("device", DEVICES)
def test_philox_kernel_matches_reference(device):
    seed, groups = 0x0123456789ABCDEF, 37

    def words(buf):
        xp = backend.xp_of(buf)
        out = xp.empty(4 * groups, dtype=np.uint32)
        backend.launch("dropout", "philox_words_fwd", (out, np.uint64(seed), np.int64(groups)),
                       groups)
        return out

    got = run_on(device, words, np.zeros(1, np.float32))
    want = [w for g in range(groups)
            for w in philox4x32_10([g, 0, 0, 0], [seed & 0xFFFFFFFF, seed >> 32])]
    assert [int(v) for v in got] == want


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_rate_and_reproducibility(device, p):
    # total not a multiple of 4: the last Philox group is partial
    x = np.ones((64, 1001), np.float32)
    a, b, c = run_on(device, lambda x: (dropout_gpu(x, p, 7), dropout_gpu(x, p, 7),
                                        dropout_gpu(x, p, 8)), x)
    assert_close(a, b, "exact", "same seed, same mask")
    assert not np.array_equal(a, c), "another seed, another mask"
    keep = a != 0
    assert np.all(a[keep] == np.float32(1.0 / (1.0 - p)))
    sd = np.sqrt(p * (1 - p) / x.size)
    assert abs(keep.mean() - (1 - p)) < 5 * sd, "keep rate %.4f, want %.2f" % (keep.mean(), 1 - p)


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_layer_on_device(device):
    x = normal((8, 300), 3)
    dy = normal(x.shape, 4)

    def layer(x, dy):
        drop = Dropout(0.5, seed=11)
        y1 = drop.forward(x, train=True)
        host_mask = drop.mask
        dx = drop.backward(dy)
        seed1 = drop.mask_seed
        y2 = drop.forward(x, train=True)  # a new mask on every training forward
        y_eval = drop.forward(x, train=False)
        again = Dropout(0.5, seed=11).forward(x, train=True)  # same layer seed, same first mask
        return y1, dx, y2, y_eval, again, host_mask is None, seed1 is not None

    y1, dx, y2, y_eval, again, no_host_mask, has_seed = run_on(device, layer, x, dy)
    assert no_host_mask and has_seed
    keep = y1 != 0
    assert_close(y1[keep], (x * 2)[keep], "exact", "kept units scaled by 1/(1-p)")
    assert_close(dx, np.where(keep, dy * np.float32(2.0), 0), "exact",
                 "backward uses the same mask")
    assert not np.array_equal(y1 != 0, y2 != 0)
    assert_close(y_eval, x, "exact", "eval is the identity")
    assert_close(again, y1, "exact", "reproducible from the layer seed")


# -- softmax cross-entropy -----------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(st.integers(1, 6), st.integers(1, 1100), st.integers(0, 2 ** 31))
@example(128, 1000, 0)
def test_softmax_cross_entropy(device, n, c, seed):
    logits = normal((n, c), seed) * 5
    labels = np.random.default_rng(seed).integers(0, c, n)
    head = SoftmaxCrossEntropy()
    loss = head.forward(logits, labels)
    dlogits = head.backward()

    def gpu(logits):
        h = SoftmaxCrossEntropy()
        return h.forward(logits, labels), h.backward()

    loss_d, dl_d = run_on(device, gpu, logits)
    assert_close(loss_d, loss, "float32", "loss")
    assert_close(dl_d, dlogits, "float32", "dlogits")
