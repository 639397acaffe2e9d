"""The gradient checker must pass correct gradients and fail wrong ones, with a message that
shows the inputs and both gradients."""
import numpy as np
import pytest

from tests.gradcheck import check_grad, numeric_grad


def cubic(x, a):
    return lambda: float(np.sum(a * x ** 3))


def test_passes_a_correct_gradient_in_both_variants():
    rng = np.random.default_rng(0)
    x, a = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g = 3 * a * x ** 2
    check_grad(cubic(x, a), {"x": x}, {"x": g})
    check_grad(cubic(x, a), {"x": x}, {"x": g}, full=True)
    np.testing.assert_allclose(numeric_grad(cubic(x, a), x), g, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("full", [False, True])
def test_fails_a_slightly_wrong_gradient_and_shows_both(full):
    rng = np.random.default_rng(1)
    x, a = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    g = 3 * a * x ** 2
    g[2, 3] *= 1.001                                   # one entry off by 0.1%
    with pytest.raises(AssertionError) as err:
        check_grad(cubic(x, a), {"x": x}, {"x": g}, full=full)
    msg = str(err.value)
    assert "'x'" in msg and "inputs:" in msg and "analytic" in msg and "numeric" in msg
    assert "%.6f" % x[0, 0] in msg                      # the inputs are printed
    assert "not computed" not in msg                    # a small input gets its numeric gradient


def test_inputs_are_restored_and_float64_required():
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    check_grad(lambda: float((x ** 2).sum()), {"x": x}, {"x": 2 * x}, full=True)
    check_grad(lambda: float((x ** 2).sum()), {"x": x}, {"x": 2 * x})
    np.testing.assert_array_equal(x, before)
    with pytest.raises(AssertionError, match="float64"):
        x32 = x.astype(np.float32)
        check_grad(lambda: float((x32 ** 2).sum()), {"x": x32}, {"x": 2 * x32})
    with pytest.raises(AssertionError, match="shape"):
        check_grad(lambda: float((x ** 2).sum()), {"x": x}, {"x": np.zeros(6)})
