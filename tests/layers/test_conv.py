"""Conv2D: forward against a naive loop, backward by finite differences, deconv as the adjoint
of the bias-free convolution (Z&F Sec. 2.1: transposed, flipped filters)."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_grad, check_layer_backward
from zfcore.layers import Conv2D
from zfcore.layers.naive import conv as conv_naive
from zfcore.layers.naive import conv_out as out_size
from zfcore.layers.naive import conv_transpose as deconv_scatter
from zfcore.layers.naive import pad_zero

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def conv_cases(draw, max_hw=8):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, 2))
    lo = max(1, k - 2 * p)
    h = draw(st.integers(lo, max_hw))
    w = draw(st.integers(lo, max_hw))
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    o = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 31))
    return n, c, o, h, w, k, s, p, seed


def make(n, c, o, h, w, k, s, p, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    layer = Conv2D(c, o, k, stride=s, pad=p, rng=rng)
    layer.params["W"] = rng.standard_normal((o, c, k, k)).astype(dtype)
    layer.params["b"] = rng.standard_normal(o).astype(dtype)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    return layer, x


# -- forward ------------------------------------------------------------------------------------
@SETTINGS
@given(conv_cases())
@example((1, 1, 1, 8, 8, 3, 2, 0, 0))   # last row/column read by no window
@example((1, 2, 1, 5, 7, 4, 3, 2, 1))   # odd sizes, pad 2
def test_forward_matches_naive_loop(case):
    n, c, o, h, w, k, s, p, seed = case
    layer, x = make(*case)
    y = layer.forward(x)
    expect = conv_naive(x, layer.params["W"], layer.params["b"], s, p)
    assert y.shape == (n, o, out_size(h, k, s, p), out_size(w, k, s, p))
    assert layer.output_shape((c, h, w)) == y.shape[1:]
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(conv_cases())
def test_forward_float32_stays_float32(case):
    layer, x = make(*case, dtype=np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    expect = conv_naive(x.astype(np.float64), layer.params["W"].astype(np.float64),
                        layer.params["b"].astype(np.float64), layer.stride, layer.pad)
    np.testing.assert_allclose(y, expect, rtol=1e-4, atol=1e-5)


def test_forward_is_cross_correlation_not_flipped():
    # A single 1 at the top-left of a 2x2 kernel picks the top-left of each window.
    layer = Conv2D(1, 1, 2)
    layer.params["W"] = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
    layer.params["b"] = np.zeros(1)
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[0.0, 1.0], [3.0, 4.0]])


# -- backward -----------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_backward_matches_finite_differences(case):
    layer, x = make(*case)
    check_layer_backward(layer, x)
    assert set(layer.grads) == {"W", "b"}


def test_backward_full_coordinates_tiny():
    layer, x = make(1, 2, 2, 4, 3, 2, 2, 1, seed=7)
    check_layer_backward(layer, x, full=True)


# -- deconv -------------------------------------------------------------------------------------
@SETTINGS
@given(conv_cases())
@example((1, 1, 1, 8, 8, 3, 2, 0, 0))
@example((2, 3, 2, 9, 6, 2, 3, 1, 5))
def test_deconv_is_adjoint_of_bias_free_conv(case):
    n, c, o, h, w, k, s, p, seed = case
    layer, x = make(*case)
    rng = np.random.default_rng(seed + 1)
    b = layer.params["b"].copy()
    y = layer.forward(x) - b.reshape(1, -1, 1, 1)            # the bias-free convolution
    r = rng.standard_normal(y.shape)
    back = layer.deconv(r)
    assert back.shape == x.shape
    lhs, rhs = np.vdot(y, r), np.vdot(x, back)
    assert abs(lhs - rhs) <= 1e-10 * (1 + np.abs(y).sum() * np.abs(r).max()), (lhs, rhs)
    np.testing.assert_allclose(back, deconv_scatter(r, layer.params["W"], x.shape, s, p),
                               rtol=1e-12, atol=1e-12)


def test_deconv_leaves_uncovered_rows_zero():
    # 8 rows, k 3, stride 2: the windows read rows 0..6; row 7 and column 7 get nothing back.
    layer, x = make(1, 2, 3, 8, 8, 3, 2, 0, seed=3)
    y = layer.forward(x)
    back = layer.deconv(np.ones_like(y))
    assert back.shape == x.shape
    assert np.all(back[:, :, 7, :] == 0) and np.all(back[:, :, :, 7] == 0)
    assert np.all(back[:, :, :7, :7] != 0)


@SETTINGS
@given(conv_cases())
def test_deconv_stride_one_is_correlation_with_flipped_swapped_filters(case):
    n, c, o, h, w, k, _, p, seed = case
    p = min(p, k - 1)       # the "full" correlation below needs k - 1 - p >= 0
    layer, x = make(n, c, o, h, w, k, 1, p, seed)
    y = layer.forward(x)
    r = np.random.default_rng(seed).standard_normal(y.shape)
    # Flip both spatial axes and swap in/out channels, then correlate with r padded by k-1-p.
    Wt = layer.params["W"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3)      # (C, O, k, k)
    q = k - 1 - p
    rp = pad_zero(r, q)
    expect = np.zeros(x.shape)
    for b_ in range(n):
        for cc in range(c):
            for i in range(h):
                for j in range(w):
                    expect[b_, cc, i, j] = np.sum(rp[b_, :, i:i + k, j:j + k] * Wt[cc])
    np.testing.assert_allclose(layer.deconv(r), expect, rtol=1e-12, atol=1e-12)


def test_deconv_ignores_bias():
    layer, x = make(2, 3, 4, 6, 5, 3, 2, 1, seed=11)
    y = layer.forward(x)
    r = np.random.default_rng(0).standard_normal(y.shape)
    first = layer.deconv(r).copy()
    layer.params["b"][...] = 100.0
    layer.forward(x)
    np.testing.assert_array_equal(layer.deconv(r), first)


# -- parameters ---------------------------------------------------------------------------------
def test_params_shapes_init_and_live():
    layer = Conv2D(3, 16, 5, stride=2, pad=1, rng=np.random.default_rng(0))
    W, b = layer.params["W"], layer.params["b"]
    assert W.shape == (16, 3, 5, 5) and b.shape == (16,)
    assert W.dtype == np.float32 and b.dtype == np.float32
    assert np.all(b == 0)
    assert abs(W.std() - 1e-2) < 1e-3 and abs(W.mean()) < 2e-3
    x = np.random.default_rng(1).standard_normal((1, 3, 9, 9)).astype(np.float32)
    y0 = layer.forward(x)
    b[...] = 1.0                                              # writing into params is live
    np.testing.assert_allclose(layer.forward(x), y0 + 1.0, rtol=1e-6)


def test_same_rng_seed_same_weights():
    a = Conv2D(3, 4, 3, rng=np.random.default_rng(5)).params["W"]
    b = Conv2D(3, 4, 3, rng=np.random.default_rng(5)).params["W"]
    c = Conv2D(3, 4, 3, rng=np.random.default_rng(6)).params["W"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_gradcheck_catches_a_wrong_conv_gradient():
    # The checker itself must be able to fail: a 1% error in one dW entry is caught.
    layer, x = make(1, 2, 2, 5, 5, 3, 1, 1, seed=2)
    w = np.random.default_rng(0).standard_normal(layer.forward(x).shape)
    layer.forward(x)
    layer.backward(w)
    dW = layer.grads["W"].copy()
    dW[1, 0, 2, 1] *= 1.01
    with pytest.raises(AssertionError, match="gradient w.r.t. 'W'"):
        check_grad(lambda: np.vdot(layer.forward(x), w), {"W": layer.params["W"]}, {"W": dW})


# -- stride 1: the wide columns -------------------------------------------------------------------
@SETTINGS
@given(conv_cases())
def test_wide_columns_hold_im2cols_columns_and_col2im_wide_is_their_adjoint(case):
    from zfcore.layers.conv import col2im_wide, im2col, im2col_wide, wide_geometry
    n, c, _, h, w, k, _, p, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    _, wp, ho, _, _ = wide_geometry(h, w, k, p)
    wo = out_size(w, k, 1, p)
    wide = im2col_wide(x, k, p).reshape(c * k * k, n, ho, wp)
    np.testing.assert_array_equal(wide[..., :wo], im2col(x, k, 1, p).reshape(c * k * k, n, ho, wo))
    # <im2col_wide(x), g> = <x, col2im_wide(g)> for g zero in the extra columns (float64)
    g = np.zeros_like(wide)
    g[..., :wo] = rng.standard_normal((c * k * k, n, ho, wo))
    g = g.reshape(c * k * k, -1)
    lhs = np.vdot(wide.reshape(c * k * k, -1), g)
    rhs = np.vdot(x, col2im_wide(g, x.shape, k, p))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
