"""A whole net on the GPU against the same net on NumPy: zfnet_small forward, loss, backward
(every parameter's gradient and dL/dx), the deconvnet projections, and an SGD step with the
filter renormalisation (Z&F Sec. 3)."""
import numpy as np
import pytest

from tests.gpu.helpers import DEVICES, assert_close, host, run_on
from zfcore import models
from zfcore.optim import SGD


def twin_nets(device, seed=3):
    """The same zfnet_small twice: the NumPy reference, and one for ``device``."""
    ref = models.zfnet_small(num_classes=7, seed=seed, init_std="he")
    dev = models.zfnet_small(num_classes=7, seed=seed, init_std="he")
    if device == "cupy":
        dev.to("cupy")
    return ref, dev


def batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 64, 64)).astype(np.float32), rng.integers(0, 7, n)


@pytest.mark.parametrize("device", DEVICES)
def test_forward_loss_backward(device):
    ref, dev = twin_nets(device)
    x, labels = batch()
    logits = ref.forward(x)
    loss = ref.loss(logits, labels)
    dx = ref.backward()

    def step(x):
        lg = dev.forward(x)
        ls = dev.loss(lg, labels)
        return lg, ls, dev.backward(), dev.grads()

    logits_d, loss_d, dx_d, grads_d = run_on(device, step, x)
    assert_close(logits_d, logits, "net", "logits")
    assert_close(loss_d, loss, "net", "loss")
    assert_close(dx_d, dx, "net", "dL/dx")
    grads = ref.grads()
    assert sorted(host(grads_d)) == sorted(grads)
    for key in grads:
        assert_close(host(grads_d[key]), grads[key], "net", "grad " + key)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["deconv", "backprop", "guided"])
@pytest.mark.parametrize("layer", ["conv1", "pool2", "relu5", "fc6"])
def test_project(device, mode, layer):
    ref, dev = twin_nets(device)
    x, _ = batch()
    want = ref.project(x, layer, [0, 5], position="max", mode=mode)
    got = run_on(device, lambda x: dev.project(x, layer, [0, 5], position="max", mode=mode), x)
    assert_close(got, want, "net", "project %s %s" % (layer, mode))


@pytest.mark.parametrize("device", DEVICES)
def test_training_forward_with_dropout_then_backward(device):
    _, dev = twin_nets(device)
    x, labels = batch(4)

    def step(x):
        dev.loss(dev.forward(x, train=True), labels)
        dx = dev.backward()
        return dx, dev.layers["drop6"].mask is None, dev.grads()["fc6.W"]

    dx, no_host_mask, g = run_on(device, step, x)
    assert no_host_mask
    assert np.isfinite(dx).all() and np.isfinite(g).all() and np.abs(g).max() > 0


@pytest.mark.parametrize("device", DEVICES)
def test_sgd_step_with_filter_renorm(device):
    ref, dev = twin_nets(device)
    rng = np.random.default_rng(1)
    grads = {k: rng.standard_normal(w.shape).astype(np.float32) for k, w in ref.params().items()}
    for key, g in grads.items():
        name, which = key.rsplit(".", 1)
        ref.layers[name].grads[which] = g
    # large enough steps that conv filters exceed RMS 0.1 and get renormalised
    opt_ref = SGD(ref, lr=0.2, momentum=0.9, weight_decay=5e-4, max_filter_rms=0.1)
    opt_ref.step()
    opt_ref.step()

    def step(*gs):
        for key, g in zip(grads, gs):
            name, which = key.rsplit(".", 1)
            dev.layers[name].grads[which] = g
        opt = SGD(dev, lr=0.2, momentum=0.9, weight_decay=5e-4, max_filter_rms=0.1)
        opt.step()
        opt.step()
        return dev.params(), opt.velocity

    params, velocity = run_on(device, step, *grads.values())
    for key, w in ref.params().items():
        assert_close(host(params[key]), w, "float32", "param " + key)
        assert_close(host(velocity[key]), opt_ref.velocity[key], "float32", "velocity " + key)
    rms = np.sqrt((ref.params()["conv1.W"].reshape(ref.params()["conv1.W"].shape[0], -1) ** 2)
                  .mean(1))
    assert np.isclose(rms.max(), 0.1, rtol=1e-5), "the test must exercise the renorm"
