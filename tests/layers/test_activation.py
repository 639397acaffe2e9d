"""ReLU: forward, backward (relu'(0) = 0), the deconvnet's rectification of the signal itself
(Z&F Sec. 2.1) and guided backprop."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_layer_backward
from zfcore.layers import ReLU

SETTINGS = settings(max_examples=30, deadline=None)

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


def away_from_kink(shape, seed):
    """Standard normal values pushed at least 0.1 away from 0, so +-eps never crosses the kink."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x + 0.1 * np.sign(x) + (x == 0) * 0.1


@SETTINGS
@given(shapes, st.integers(0, 2 ** 31))
def test_forward_is_max_with_zero(shape, seed):
    x = away_from_kink(shape, seed).astype(np.float32)
    y = ReLU().forward(x)
    assert y.shape == x.shape and y.dtype == np.float32
    for idx in np.ndindex(shape):
        assert y[idx] == (x[idx] if x[idx] > 0 else 0.0)


@SETTINGS
@given(shapes, st.integers(0, 2 ** 31))
def test_backward_matches_finite_differences(shape, seed):
    check_layer_backward(ReLU(), away_from_kink(shape, seed), seed=seed % 1000)


def test_backward_full_coordinates_tiny():
    check_layer_backward(ReLU(), away_from_kink((2, 3, 2, 2), 0), full=True)


def test_derivative_at_zero_is_zero():
    layer = ReLU()
    x = np.array([[-1.0, 0.0, 2.0]])
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])


@SETTINGS
@given(shapes, st.integers(0, 2 ** 31))
def test_deconv_rectifies_the_signal_not_masked_by_the_forward(shape, seed):
    rng = np.random.default_rng(seed)
    layer = ReLU()
    x = away_from_kink(shape, seed)
    r = away_from_kink(shape, seed + 1)
    layer.forward(x)
    back = layer.deconv(r)
    for idx in np.ndindex(shape):
        assert back[idx] == max(r[idx], 0.0)
    # Whatever the forward pass saw, the deconvnet's ReLU gives the same answer.
    layer.forward(-np.abs(rng.standard_normal(shape)) - 1.0)
    np.testing.assert_array_equal(layer.deconv(r), back)


def test_deconv_passes_where_forward_was_negative_and_blocks_negative_signal():
    layer = ReLU()
    layer.forward(np.array([-3.0, -1.0, 2.0, 4.0]))
    r = np.array([1.5, -1.0, -2.0, 3.0])
    np.testing.assert_array_equal(layer.deconv(r), [1.5, 0.0, 0.0, 3.0])
    np.testing.assert_array_equal(layer.backward(r), [0.0, 0.0, -2.0, 3.0])


@SETTINGS
@given(shapes, st.integers(0, 2 ** 31))
def test_guided_needs_both_the_forward_and_the_signal_positive(shape, seed):
    layer = ReLU()
    x = away_from_kink(shape, seed)
    r = away_from_kink(shape, seed + 1)
    layer.forward(x)
    g = layer.guided(r)
    for idx in np.ndindex(shape):
        assert g[idx] == (r[idx] if (x[idx] > 0 and r[idx] > 0) else 0.0)


def test_no_params():
    layer = ReLU()
    layer.forward(np.ones(3))
    layer.backward(np.ones(3))
    assert layer.params == {} and layer.grads == {}
