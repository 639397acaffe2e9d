"""Inverted dropout: identity at eval and on the deconvnet path; at train time each unit is
kept with probability 1 - p and scaled by exactly 1 / (1 - p); masks come from the layer's own
seeded Generator, a new one per training forward, and backward reuses the forward's mask."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_layer_backward
from zfcore.layers import Dropout
from zfcore.layers.dropout import dropout_backward, dropout_forward, dropout_mask

ps = st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.7, 0.9])


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_eval_is_identity(p):
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    layer = Dropout(p, seed=0)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    np.testing.assert_array_equal(layer.backward(x), x)


@settings(max_examples=12, deadline=None)
@given(ps, st.integers(0, 2 ** 31))
def test_train_keeps_about_one_minus_p_scaled_by_exactly_one_over_one_minus_p(p, seed):
    n = 100_000
    x = np.random.default_rng(seed).uniform(1.0, 2.0, (10, n // 10)).astype(np.float32)
    y = Dropout(p, seed=seed).forward(x, train=True)
    kept = y != 0
    # Binomial(n, 1 - p): six standard deviations (false alarm about 2e-9).
    assert abs(kept.sum() - n * (1 - p)) <= 6 * np.sqrt(n * p * (1 - p))
    np.testing.assert_array_equal(y[kept], x[kept] * np.float32(1.0 / (1.0 - p)))
    # Float64 input: the scale is 1 / (1 - p) in float64.
    x64 = x.astype(np.float64)
    y64 = Dropout(p, seed=seed).forward(x64, train=True)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64[y64 != 0], x64[y64 != 0] / (1.0 - p), rtol=1e-15, atol=0)
    # The kept units are the same whatever the dtype (the same Generator draws).
    np.testing.assert_array_equal(y64 != 0, kept)


def test_zero_p_at_train_is_identity_and_bad_p_rejected():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(Dropout(0.0, seed=1).forward(x, train=True), x)
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            Dropout(p)


def test_same_seed_same_masks_and_a_new_mask_every_forward():
    x = np.ones((4, 256))
    a, b = Dropout(0.5, seed=7), Dropout(0.5, seed=7)
    a1, a2 = a.forward(x, train=True), a.forward(x, train=True)
    b1, b2 = b.forward(x, train=True), b.forward(x, train=True)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    c1 = Dropout(0.5, seed=8).forward(x, train=True)
    assert not np.array_equal(a1, c1)
    # An eval forward in between draws nothing: the sequence of training masks is unchanged.
    d = Dropout(0.5, seed=7)
    d.forward(x, train=True)
    d.forward(x, train=False)
    np.testing.assert_array_equal(d.forward(x, train=True), a2)


def test_backward_uses_the_forward_mask():
    x = np.ones((3, 50))
    layer = Dropout(0.5, seed=3)
    mask = layer.forward(x, train=True)          # x = 1, so y is the mask: 0 or 2
    assert set(np.unique(mask)) == {0.0, 2.0}
    dy = np.random.default_rng(0).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy * mask)


@settings(max_examples=10, deadline=None)
@given(ps, st.integers(0, 2 ** 31))
def test_backward_matches_finite_differences_with_a_fixed_mask(p, seed):
    layer = Dropout(p, seed=seed)

    def reset():                                 # every forward draws the same mask
        layer.rng = np.random.default_rng(seed)

    x = np.random.default_rng(seed + 1).standard_normal((3, 4, 5))
    check_layer_backward(layer, x, train=True, reset=reset)


def test_deconv_is_identity_even_after_a_training_forward():
    layer = Dropout(0.5, seed=0)
    x = np.ones((2, 10))
    layer.forward(x, train=True)
    r = np.random.default_rng(0).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.deconv(r), r)


def test_pure_functions_apply_the_mask():
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    mask = dropout_mask(x.shape, 0.5, np.random.default_rng(1), dtype=np.float64)
    assert set(np.unique(mask)) == {0.0, 2.0}
    for idx in np.ndindex(x.shape):
        assert dropout_forward(x, mask)[idx] == x[idx] * mask[idx]
        assert dropout_backward(dy, mask)[idx] == dy[idx] * mask[idx]
    assert dropout_backward(dy, None) is dy


def test_random_state_round_trip_continues_the_mask_sequence():
    x = np.ones((2, 64))
    a = Dropout(0.5, seed=5)
    a.forward(x, train=True)
    saved = json.loads(json.dumps(a.random_state()))      # checkpoints keep it as JSON
    expect = a.forward(x, train=True)
    b = Dropout(0.5, seed=99)
    b.set_random_state(saved)
    np.testing.assert_array_equal(b.forward(x, train=True), expect)
