"""MaxPool2D: output sizes (floor and the PyTorch/Caffe ceil rule), values and switches against a
naive loop, ties, unpooling through the switches (Z&F Sec. 2.1), backward by finite differences."""
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_layer_backward
from zfcore.layers import MaxPool2D
from zfcore.layers.naive import maxpool as pool_naive
from zfcore.layers.naive import pool_out as out_size
from zfcore.layers.naive import unpool as unpool_naive

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def pool_cases(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 4))
    ceil_mode = draw(st.booleans())
    h = draw(st.integers(k, 10))
    w = draw(st.integers(k, 10))
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 31))
    return n, c, h, w, k, s, ceil_mode, seed


def distinct(shape, seed, scale=0.1):
    """A random permutation of distinct values 0.1 apart: no accidental ties."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * scale).reshape(shape)


# -- sizes --------------------------------------------------------------------------------------
@SETTINGS
@given(h=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 6), ceil_mode=st.booleans())
@example(h=4, k=1, s=2, ceil_mode=True)     # ceil(3/2)+1 = 3 but window 3 would start at 4: 2
@example(h=6, k=1, s=3, ceil_mode=True)     # ceil(5/3)+1 = 3, third window starts at 6: 2
@example(h=110, k=3, s=2, ceil_mode=True)   # Z&F Fig. 3: 110 -> 55
@example(h=26, k=3, s=2, ceil_mode=True)    # 26 -> 13
@example(h=13, k=3, s=2, ceil_mode=True)    # 13 -> 6
def test_output_size_rule(h, k, s, ceil_mode):
    assume(h >= k)
    expect = out_size(h, k, s, ceil_mode)
    layer = MaxPool2D(k, s, ceil_mode=ceil_mode)
    assert layer.output_shape((2, h, h + 1)) == (2, expect, out_size(h + 1, k, s, ceil_mode))
    y = layer.forward(np.zeros((1, 2, h, h + 1), dtype=np.float32))
    assert y.shape == (1, 2, expect, out_size(h + 1, k, s, ceil_mode))
    # The same count, from the windows themselves: floor mode keeps the windows that fit whole;
    # ceil mode adds windows while the previous one has not reached the end and the new one
    # starts inside the input.
    if ceil_mode:
        count = sum(1 for i in range(h + 1) if i * s < h and (i == 0 or (i - 1) * s + k < h))
    else:
        count = sum(1 for i in range(h + 1) if i * s + k <= h)
    assert expect == count


def test_ceil_rule_minus_one_case_explicit():
    # h=4, k=1, s=2: ceil((4-1)/2) + 1 = 3 windows would put the last at row 4, past the end.
    assert MaxPool2D(1, 2, ceil_mode=True).output_shape((1, 4, 4)) == (1, 2, 2)
    assert MaxPool2D(1, 2, ceil_mode=True).output_shape((1, 5, 5)) == (1, 3, 3)
    assert MaxPool2D(3, 2, ceil_mode=True).output_shape((1, 6, 6)) == (1, 3, 3)
    assert MaxPool2D(3, 2, ceil_mode=False).output_shape((1, 6, 6)) == (1, 2, 2)


# -- forward ------------------------------------------------------------------------------------
@SETTINGS
@given(pool_cases())
@example((1, 1, 4, 4, 1, 2, True, 0))
@example((1, 1, 7, 5, 3, 2, True, 1))       # clipped last window in both directions
@example((1, 1, 7, 5, 3, 2, False, 1))      # floor: the tail is dropped
def test_forward_matches_naive_loop(case):
    n, c, h, w, k, s, ceil_mode, seed = case
    x = distinct((n, c, h, w), seed).astype(np.float32)
    layer = MaxPool2D(k, s, ceil_mode=ceil_mode)
    y = layer.forward(x)
    ey, esw = pool_naive(x, k, s, ceil_mode)
    np.testing.assert_array_equal(y, ey)
    assert layer.switches.dtype == np.uint8
    assert layer.switches.shape == y.shape
    np.testing.assert_array_equal(layer.switches, esw)


@SETTINGS
@given(pool_cases())
def test_ties_go_to_first_row_major_position(case):
    # Values from {0, 1, 2}: windows are full of exact ties, on purpose.
    n, c, h, w, k, s, ceil_mode, seed = case
    x = np.random.default_rng(seed).integers(0, 3, (n, c, h, w)).astype(np.float64)
    layer = MaxPool2D(k, s, ceil_mode=ceil_mode)
    y = layer.forward(x)
    ey, esw = pool_naive(x, k, s, ceil_mode)
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(layer.switches, esw)


def test_ties_hand_built():
    layer = MaxPool2D(3, 3)
    x = np.zeros((1, 1, 3, 3))
    layer.forward(x)
    assert layer.switches[0, 0, 0, 0] == 0                    # all equal: the first offset
    x[0, 0, 1, 0] = x[0, 0, 0, 2] = 5.0                       # tie between offsets 3 and 2
    layer.forward(x)
    assert layer.switches[0, 0, 0, 0] == 2
    x[0, 0, 0, 1] = 5.0                                       # now offsets 1, 2, 3 tie
    layer.forward(x)
    assert layer.switches[0, 0, 0, 0] == 1


def test_negative_values_and_clipped_window():
    # All values negative: the clipped window's missing cells must not act as zeros.
    x = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)[:, :, ::-1, ::-1].copy()  # -16 .. -1
    layer = MaxPool2D(3, 2, ceil_mode=True)                  # 2x2 windows, the last clipped
    y = layer.forward(x)
    assert y.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[x[0, 0, 2, 2], x[0, 0, 2, 3]],
                                            [x[0, 0, 3, 2], x[0, 0, 3, 3]]])
    # Switches point inside the clipped windows: offset (1, 1) of window (1, 1) is x[3, 3].
    assert layer.switches[0, 0, 1, 1] == 1 * 3 + 1


def test_switches_are_one_byte_and_big_windows_rejected():
    layer = MaxPool2D(16, 16)
    x = distinct((1, 1, 16, 16), 0)
    layer.forward(x)
    assert layer.switches.dtype == np.uint8
    assert int(layer.switches[0, 0, 0, 0]) == int(np.argmax(x))
    with pytest.raises(ValueError):
        MaxPool2D(17, 1)


# -- unpooling (deconv) and backward ------------------------------------------------------------
@SETTINGS
@given(pool_cases())
def test_unpool_puts_each_value_at_its_switch(case):
    n, c, h, w, k, s, ceil_mode, seed = case
    x = distinct((n, c, h, w), seed)
    layer = MaxPool2D(k, s, ceil_mode=ceil_mode)
    y = layer.forward(x)
    _, esw = pool_naive(x, k, s, ceil_mode)
    r = np.random.default_rng(seed + 1).standard_normal(y.shape)
    back = layer.deconv(r)
    assert back.shape == x.shape
    np.testing.assert_allclose(back, unpool_naive(r, esw, x.shape, k, s), rtol=1e-12, atol=0)


def test_unpool_overlapping_windows_that_chose_the_same_pixel_add_up():
    # 5x5, k 3, stride 2: the four windows all contain the centre, which holds the maximum.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9.0
    layer = MaxPool2D(3, 2)
    y = layer.forward(x)
    np.testing.assert_array_equal(y[0, 0], [[9.0, 9.0], [9.0, 9.0]])
    np.testing.assert_array_equal(layer.switches[0, 0], [[8, 6], [2, 0]])
    back = layer.deconv(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expect = np.zeros((1, 1, 5, 5))
    expect[0, 0, 2, 2] = 10.0
    np.testing.assert_array_equal(back, expect)


def test_unpool_of_clipped_window_keeps_the_input_shape():
    x = distinct((1, 1, 4, 4), 3)
    x[0, 0, 3, 3] = 100.0                                     # only the clipped window sees it
    layer = MaxPool2D(3, 2, ceil_mode=True)
    layer.forward(x)
    back = layer.deconv(np.ones((1, 1, 2, 2)))
    assert back.shape == (1, 1, 4, 4)
    assert back[0, 0, 3, 3] == 1.0
    assert back.sum() == 4.0


def test_floor_mode_never_reads_the_tail():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 3, :] = 7.0                                       # last row: outside every window
    layer = MaxPool2D(3, 2, ceil_mode=False)
    y = layer.forward(x)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 0.0
    assert layer.deconv(np.ones_like(y))[0, 0, 3].sum() == 0.0


@settings(max_examples=25, deadline=None)
@given(pool_cases())
def test_backward_matches_finite_differences(case):
    n, c, h, w, k, s, ceil_mode, seed = case
    x = distinct((n, c, h, w), seed)
    layer = MaxPool2D(k, s, ceil_mode=ceil_mode)
    dx = check_layer_backward(layer, x, seed=seed % 1000)
    assert dx.shape == x.shape


def test_backward_full_coordinates_tiny():
    x = distinct((1, 2, 5, 4), 9)
    check_layer_backward(MaxPool2D(3, 2, ceil_mode=True), x, full=True)
