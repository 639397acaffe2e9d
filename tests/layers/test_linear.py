"""Flatten (row-major C, H, W; deconv reshapes back) and Linear (y = x @ W.T + b, W (out, in);
deconv r @ W without bias)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_layer_backward
from zfcore.layers import Flatten, Linear, naive
from zfcore.layers.linear import (flatten_backward, flatten_forward, linear_backward,
                                  linear_forward)

SETTINGS = settings(max_examples=30, deadline=None)

dims = st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 6), st.integers(0, 2 ** 31))


def make(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(d_in, d_out, rng=rng)
    layer.params["W"] = rng.standard_normal((d_out, d_in))
    layer.params["b"] = rng.standard_normal(d_out)
    return layer, rng.standard_normal((n, d_in))


@SETTINGS
@given(dims)
def test_linear_forward_matches_naive_loop(case):
    n, d_in, d_out, seed = case
    layer, x = make(*case)
    W, b = layer.params["W"], layer.params["b"]
    y = layer.forward(x)
    assert y.shape == (n, d_out) and layer.output_shape((d_in,)) == (d_out,)
    for i in range(n):
        for o in range(d_out):
            assert abs(y[i, o] - (b[o] + sum(x[i, j] * W[o, j] for j in range(d_in)))) < 1e-12


@SETTINGS
@given(dims)
def test_linear_backward_matches_finite_differences(case):
    layer, x = make(*case)
    check_layer_backward(layer, x)
    assert set(layer.grads) == {"W", "b"}


def test_linear_backward_full_coordinates_tiny():
    layer, x = make(2, 3, 4, 0)
    check_layer_backward(layer, x, full=True)


@SETTINGS
@given(dims)
def test_linear_deconv_is_r_times_W_without_bias(case):
    n, d_in, d_out, seed = case
    layer, x = make(*case)
    layer.forward(x)
    r = np.random.default_rng(seed + 1).standard_normal((n, d_out))
    back = layer.deconv(r)
    W = layer.params["W"]
    for i in range(n):
        for j in range(d_in):
            assert abs(back[i, j] - sum(r[i, o] * W[o, j] for o in range(d_out))) < 1e-12


def test_linear_init_and_live_params():
    layer = Linear(300, 200, rng=np.random.default_rng(0))
    W, b = layer.params["W"], layer.params["b"]
    assert W.shape == (200, 300) and W.dtype == np.float32 and np.all(b == 0)
    assert abs(W.std() - 1e-2) < 2e-4 and abs(W.mean()) < 1e-4
    x = np.ones((1, 300), dtype=np.float32)
    y0 = layer.forward(x)
    W[0, :] = 0.0
    assert layer.forward(x)[0, 0] == 0.0 and layer.forward(x)[0, 1] == y0[0, 1]


@SETTINGS
@given(st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)))
def test_flatten_is_row_major_and_round_trips(shape):
    n, c, h, w = shape
    x = np.random.default_rng(0).standard_normal(shape)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (n, c * h * w) and layer.output_shape((c, h, w)) == (c * h * w,)
    for i, cc, r, q in np.ndindex(shape):
        assert y[i, cc * h * w + r * w + q] == x[i, cc, r, q]
    np.testing.assert_array_equal(layer.deconv(y), x)
    np.testing.assert_array_equal(layer.backward(y), x)
    check_layer_backward(Flatten(), x)


@SETTINGS
@given(dims)
def test_pure_functions_match_the_naive_loops(case):
    n, d_in, d_out, seed = case
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in)), \
        rng.standard_normal(d_out)
    dy = rng.standard_normal((n, d_out))
    np.testing.assert_allclose(linear_forward(x, W, b), naive.linear(x, W, b), rtol=1e-12,
                               atol=1e-12)
    dx, dW, db = linear_backward(dy, x, W)
    np.testing.assert_allclose(dx, naive.linear_transpose(dy, W), rtol=1e-12, atol=1e-12)
    # dW[o, j] = sum_n dy[n, o] x[n, j]; db[o] = sum_n dy[n, o]
    for o in range(d_out):
        assert abs(db[o] - sum(dy[i, o] for i in range(n))) < 1e-12
        for j in range(d_in):
            assert abs(dW[o, j] - sum(dy[i, o] * x[i, j] for i in range(n))) < 1e-12
    skipped = linear_backward(dy, x, W, need_dx=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(skipped[1], dW)
    y = flatten_forward(x.reshape(n, 1, 1, d_in))
    assert y.shape == (n, d_in) and flatten_backward(y, (n, 1, 1, d_in)).shape == (n, 1, 1, d_in)


def test_backward_gives_new_gradient_arrays_every_step():
    layer, x = make(3, 5, 4, 0)
    layer.forward(x)
    layer.backward(np.ones((3, 4)))
    first = {k: v for k, v in layer.grads.items()}
    kept = {k: v.copy() for k, v in first.items()}
    layer.forward(2 * x)
    layer.backward(-np.ones((3, 4)))
    for key in ("W", "b"):
        np.testing.assert_array_equal(first[key], kept[key])     # untouched by step 2
        assert not np.array_equal(layer.grads[key], kept[key])  # step 2 has its own
