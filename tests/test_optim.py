import numpy as np

from zfcore import models
from zfcore.optim import SGD, renormalise_filters


def test_renormalise_only_filters_above_the_limit():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * np.array(
        [0.01, 0.05, 0.3, 2.0], np.float32)[:, None, None, None]
    before = W.copy()
    renormalise_filters(W, 0.1)
    for o in range(4):
        rms_before = np.sqrt(np.mean(before[o].astype(np.float64) ** 2))
        rms_after = np.sqrt(np.mean(W[o].astype(np.float64) ** 2))
        if rms_before > 0.1:
            assert abs(rms_after - 0.1) < 1e-6
            np.testing.assert_allclose(W[o], before[o] * (0.1 / rms_before), rtol=1e-5)
        else:
            np.testing.assert_array_equal(W[o], before[o])


def test_sgd_step_is_momentum_with_weight_decay_on_weights_only():
    net = models.zfnet_small(10, seed=1)
    opt = SGD(net, lr=0.1, momentum=0.9, weight_decay=0.01, max_filter_rms=None)
    rng = np.random.default_rng(2)
    for layer in net.layers.values():
        layer.grads = {k: rng.standard_normal(v.shape).astype(np.float32)
                       for k, v in layer.params.items()}
    w0 = {k: v.copy() for k, v in net.params().items()}
    g = {k: v.copy() for k, v in net.grads().items()}
    v_old = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in w0.items()}
    for k in v_old:
        opt.velocity[k][...] = v_old[k]
    opt.step()
    for k, w in net.params().items():
        decay = 0.01 * w0[k] if k.endswith(".W") else 0.0
        v = 0.9 * v_old[k] - 0.1 * (g[k] + decay)
        np.testing.assert_allclose(opt.velocity[k], v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w, w0[k] + v, rtol=1e-5, atol=1e-6)


def test_sgd_step_renormalises_conv_filters_not_linear_weights():
    net = models.zfnet_small(10, seed=1)
    for key, w in net.params().items():
        w[...] = 1.0                                   # RMS 1 everywhere
        net.layers[key.split(".")[0]].grads[key.split(".")[1]] = np.zeros_like(w)
    SGD(net, lr=0.1, momentum=0.9, weight_decay=0.0).step()
    p = net.params()
    np.testing.assert_allclose(np.sqrt((p["conv1.W"] ** 2).mean(axis=(1, 2, 3))), 0.1, rtol=1e-5)
    np.testing.assert_array_equal(p["fc6.W"], 1.0)
