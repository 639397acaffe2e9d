"""The GPU launchers refuse, with one ValueError naming what is wrong, the calls where NumPy would
raise and a kernel would read out of bounds: unpool with switches or r of the wrong shape for
``x_shape`` and k/s, ReLU and LRN backward with dy not x's shape, col2im with columns that are
not the forward's, the softmax with a label outside [0, C). A label that is already on the
device is not read back; the kernel then writes NaN instead of reading past its row."""
import numpy as np
import pytest

from tests.gpu.helpers import DEVICES, run_on
from zfcore import backend
from zfcore.layers.activation import relu_backward, relu_guided
from zfcore.layers.conv import col2im
from zfcore.layers.loss import SoftmaxCrossEntropy
from zfcore.layers.lrn import LRN, lrn_backward
from zfcore.layers.pool import maxpool_forward, unpool


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_unpool_checks_switches_and_shapes(device):
    x = normal((2, 3, 11, 11))
    y, sw = maxpool_forward(x, 3, 2)                                  # (2, 3, 5, 5)
    bad = {
        "switches of another shape": (y, sw[:, :, :4], x.shape, 3, 2, "switches"),
        "int64 switches": (y, sw.astype(np.int64), x.shape, 3, 2, "uint8"),
        "r too large for x_shape": (normal((2, 3, 7, 7)), np.zeros((2, 3, 7, 7), np.uint8),
                                    x.shape, 3, 2, "pooling of"),
        "k and s of another pooling": (y, sw, x.shape, 2, 1, "pooling of"),
        "channels": (y, sw, (2, 4, 11, 11), 3, 2, "channels"),
    }
    for what, (r, s, shape, k, st, msg) in bad.items():
        with pytest.raises(ValueError, match=msg):
            run_on(device, lambda r, s: unpool(r, s, shape, k, st), r, s)
    # the floor-mode size of the same input is allowed
    y2, sw2 = maxpool_forward(normal((1, 2, 12, 12)), 3, 2, ceil_mode=False)
    run_on(device, lambda r, s: unpool(r, s, (1, 2, 12, 12), 3, 2), y2, sw2)


@pytest.mark.parametrize("device", DEVICES)
def test_relu_backward_and_guided_check_dy_against_x(device):
    x, dy = normal((2, 3, 4, 4)), normal((2, 3, 4, 5))
    for fn in (relu_backward, relu_guided):
        with pytest.raises(ValueError, match=r"\(2, 3, 4, 5\) but the forward input x is"):
            run_on(device, fn, dy, x)


@pytest.mark.parametrize("device", DEVICES)
def test_lrn_backward_checks_dy_and_d_against_x(device):
    a = normal((2, 7, 3, 3))
    with pytest.raises(ValueError, match="dy is"):
        run_on(device, lambda a, dy: lrn_backward(dy, a, None, None), a, normal((2, 6, 3, 3)))
    with pytest.raises(ValueError, match="d is"):
        run_on(device, lambda a, dy, d: lrn_backward(dy, a, None, d), a, a, normal((1, 7, 3, 3)))

    def layer(a, dy):
        lay = LRN()
        lay.forward(a)
        return lay.backward(dy)

    with pytest.raises(ValueError, match="dy is"):
        run_on(device, layer, a, normal((2, 7, 3, 2)))


@pytest.mark.parametrize("device", DEVICES)
def test_col2im_checks_the_columns(device):
    cols = normal((2 * 9, 2 * 4 * 4))  # right for (2, 2, 6, 6), k 3, s 1, p 0
    run_on(device, lambda c: col2im(c, (2, 2, 6, 6), 3, 1, 0), cols)
    with pytest.raises(ValueError, match="col2im: columns"):
        run_on(device, lambda c: col2im(c, (2, 2, 7, 6), 3, 1, 0), cols)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("label", [-1, 10, 11])
def test_softmax_refuses_a_host_label_out_of_range(device, label):
    labels = np.array([3, label, 0])
    with pytest.raises(ValueError, match="label %d at row 1 is outside \\[0, 10\\)" % label):
        run_on(device, lambda z: SoftmaxCrossEntropy().forward(z, labels), normal((3, 10)))
    with pytest.raises(ValueError, match="labels \\(2,\\) for 3 rows"):
        run_on(device, lambda z: SoftmaxCrossEntropy().forward(z, [1, 2]), normal((3, 10)))


@pytest.mark.parametrize("device", DEVICES)
def test_softmax_kernel_writes_nan_for_a_device_label_out_of_range(device):
    logits = normal((4, 10))
    labels = np.array([3, 10, -5, 9], np.int64)

    def kernel(z, lab):
        xp = backend.xp_of(z)
        rows, dz = xp.empty(4, np.float32), xp.empty_like(z)
        backend.launch_rows("loss", "softmax_xent_fwd_bwd",
                            (z, lab, rows, dz, np.int32(4), np.int32(10)), 4, 32)
        return rows, dz

    rows, dz = run_on(device, kernel, logits, labels)
    assert np.isnan(rows[1:3]).all() and np.isnan(dz[1:3]).all()
    assert np.isfinite(rows[[0, 3]]).all() and np.isfinite(dz[[0, 3]]).all()
    head = SoftmaxCrossEntropy()
    head.forward(logits[[0, 3]], [3, 9])
    assert np.allclose(dz[[0, 3]], head.backward() / 2, rtol=1e-5, atol=1e-7)
