"""SoftmaxCrossEntropy: mean of -log softmax at the label, stable for huge logits; backward by
finite differences and against (softmax - onehot) / N."""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gradcheck import check_grad
from zfcore.layers import Layer, SoftmaxCrossEntropy, naive
from zfcore.layers.loss import softmax_xent_backward, softmax_xent_forward

SETTINGS = settings(max_examples=30, deadline=None)

cases = st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(0, 2 ** 31))


naive_loss = naive.softmax_cross_entropy   # -log(exp(z_y) / sum_j exp(z_j)), averaged


def draw(n, c, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)) * scale, rng.integers(0, c, n)


@SETTINGS
@given(cases)
def test_loss_equals_naive_mean_of_minus_log_softmax(case):
    logits, labels = draw(*case)
    head = SoftmaxCrossEntropy()
    assert abs(float(head.forward(logits, labels)) - naive_loss(logits, labels)) < 1e-12
    loss32 = head.forward(logits.astype(np.float32), labels)
    assert abs(float(loss32) - naive_loss(logits, labels)) < 1e-5


@SETTINGS
@given(cases)
def test_backward_matches_finite_differences_and_softmax_minus_onehot(case):
    n, c, seed = case
    logits, labels = draw(*case)
    head = SoftmaxCrossEntropy()
    head.forward(logits, labels)
    d = head.backward()
    check_grad(lambda: head.forward(logits, labels), {"logits": logits}, {"logits": d})
    for i in range(n):
        denom = sum(math.exp(v) for v in logits[i])
        for j in range(c):
            expect = (math.exp(logits[i, j]) / denom - (j == labels[i])) / n
            assert abs(d[i, j] - expect) < 1e-12


def test_backward_full_coordinates_tiny():
    logits, labels = draw(3, 4, 0)
    head = SoftmaxCrossEntropy()
    head.forward(logits, labels)
    check_grad(lambda: head.forward(logits, labels), {"logits": logits},
               {"logits": head.backward()}, full=True)


def test_stable_for_huge_logits():
    for dtype in (np.float32, np.float64):
        logits = np.array([[1e4, 1e4 - 1.0, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, 1e4]], dtype=dtype)
        labels = np.array([0, 1, 0])
        head = SoftmaxCrossEntropy()
        loss = float(head.forward(logits, labels))
        # Row 0: log(1 + e^-1); row 1: log 2; row 2: 1e4 + log(1 + 2 e^-1e4) - 0 = 1e4.
        expect = (math.log1p(math.exp(-1.0)) + math.log(2.0) + 1e4) / 3
        assert math.isfinite(loss)
        assert abs(loss - expect) <= 1e-6 * expect
        d = head.backward()
        assert np.all(np.isfinite(d))
        p0 = 1.0 / (1.0 + math.exp(-1.0))
        np.testing.assert_allclose(d[0], [(p0 - 1) / 3, (1 - p0) / 3, 0.0], atol=1e-6)
        np.testing.assert_allclose(d[1], [0.0, -1 / 6, 1 / 6], atol=1e-6)
        np.testing.assert_allclose(d[2], [-1 / 3, 0.0, 1 / 3], atol=1e-6)


def test_perfect_prediction_has_near_zero_loss_and_labels_may_be_a_list():
    head = SoftmaxCrossEntropy()
    loss = float(head.forward(np.array([[50.0, 0.0], [0.0, 50.0]]), [0, 1]))
    assert 0.0 <= loss < 1e-20


@SETTINGS
@given(cases)
def test_head_is_a_layer_and_backward_scales_by_dy(case):
    logits, labels = draw(*case)
    head = SoftmaxCrossEntropy()
    assert isinstance(head, Layer) and head.params == {} and head.state == {}
    loss, logp = softmax_xent_forward(logits, labels)
    assert abs(float(loss) - naive.softmax_cross_entropy(logits, labels)) < 1e-12
    head.forward(logits, labels)
    d = head.backward()
    np.testing.assert_allclose(softmax_xent_backward(logp, labels), d, rtol=1e-12, atol=1e-15)
    # d(3 L)/dlogits = 3 dL/dlogits
    np.testing.assert_allclose(head.backward(3.0), 3.0 * d, rtol=1e-15, atol=0)
