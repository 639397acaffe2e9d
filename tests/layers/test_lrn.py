"""LRN across channels (Krizhevsky et al. 2012, Sec. 3.3): the window |c'-c| <= size//2 clipped
at the channel ends, alpha NOT divided by size; backward by finite differences; deconv identity."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_layer_backward
from zfcore.layers import LRN
from zfcore.layers.naive import lrn as lrn_naive
from zfcore.layers.naive import lrn_vjp

SETTINGS = settings(max_examples=40, deadline=None)

hyper = st.one_of(
    st.just((2.0, 1e-4, 0.75)),                                # the paper's defaults
    st.just((1.0, 1.0, 0.75)),                                 # the neighbours visibly matter
    st.just((1.0, 1.0, 1.0)),
    st.tuples(st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([0.1, 0.5, 1.0]),
              st.sampled_from([0.5, 0.75, 1.0])),
)


@st.composite
def lrn_cases(draw):
    size = draw(st.sampled_from([1, 3, 5, 7]))
    c = draw(st.integers(1, 9))                                # often fewer than the window
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n = draw(st.integers(1, 2))
    return (n, c, h, w), size, draw(hyper), draw(st.integers(0, 2 ** 31))


@SETTINGS
@given(lrn_cases())
@example(((1, 3, 2, 2), 7, (1.0, 1.0, 0.75), 0))
@example(((2, 9, 1, 3), 5, (1.0, 1.0, 0.75), 1))
def test_forward_matches_naive_loop(case):
    shape, size, (k, alpha, beta), seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = LRN(size=size, alpha=alpha, beta=beta, k=k)
    np.testing.assert_allclose(layer.forward(x), lrn_naive(x, size, alpha, beta, k),
                               rtol=1e-12, atol=1e-14)
    y32 = layer.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, lrn_naive(x, size, alpha, beta, k), rtol=2e-5, atol=1e-6)


def test_hand_numbers_alpha_not_divided_by_size():
    # One channel of value 2, k=1, alpha=1, beta=1: 2 / (1 + 4) = 0.4 for any size.
    # (PyTorch/Caffe would divide alpha by size: 2 / (1 + 4/5) for size 5.)
    for size in (1, 3, 5, 7):
        y = LRN(size=size, alpha=1.0, beta=1.0, k=1.0).forward(np.full((1, 1, 1, 1), 2.0))
        assert y[0, 0, 0, 0] == pytest.approx(0.4, rel=1e-12)


def test_hand_numbers_window_edges():
    # Channels 1, 2, 3, 4, 5; size 3 -> window radius 1; k=1, alpha=1, beta=1.
    a = np.arange(1.0, 6.0).reshape(1, 5, 1, 1)
    y = LRN(size=3, alpha=1.0, beta=1.0, k=1.0).forward(a)[0, :, 0, 0]
    expect = [1 / (1 + 1 + 4), 2 / (1 + 1 + 4 + 9), 3 / (1 + 4 + 9 + 16), 4 / (1 + 9 + 16 + 25),
              5 / (1 + 16 + 25)]
    np.testing.assert_allclose(y, expect, rtol=1e-12)
    # size 1: only the channel itself.
    y1 = LRN(size=1, alpha=1.0, beta=1.0, k=1.0).forward(a)[0, :, 0, 0]
    np.testing.assert_allclose(y1, [c / (1 + c * c) for c in range(1, 6)], rtol=1e-12)


def test_even_or_nonpositive_size_rejected():
    for size in (0, 2, 4, -1):
        with pytest.raises(ValueError):
            LRN(size=size)


@SETTINGS
@given(lrn_cases())
def test_backward_matches_finite_differences(case):
    shape, size, (k, alpha, beta), seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    check_layer_backward(LRN(size=size, alpha=alpha, beta=beta, k=k), x, seed=seed % 1000)


@SETTINGS
@given(lrn_cases())
def test_backward_matches_the_hand_derived_vector_jacobian_product(case):
    shape, size, (k, alpha, beta), seed = case
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    layer = LRN(size=size, alpha=alpha, beta=beta, k=k)
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy), lrn_vjp(dy, x, size, alpha, beta, k),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_backward_full_coordinates_tiny(size):
    x = np.random.default_rng(size).standard_normal((1, 4, 2, 2))
    check_layer_backward(LRN(size=size, alpha=1.0, beta=0.75, k=1.0), x, full=True)


def test_deconv_is_identity():
    layer = LRN(size=5, alpha=1.0, beta=0.75, k=1.0)
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 3))
    layer.forward(x)
    r = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.deconv(r), r)
