"""The visualisations on CuPy against the same on NumPy (plus net, planted patterns)."""
import numpy as np
import pytest

from tests.vis.plusnet import make_plus_net, noise_images, plant
from zfcore.backend import cupy_or_none, to_numpy
from zfcore.vis import EvolutionRecorder, Inputs, occlusion, top_activations
from zfcore.vis.correspondence import delta, mask_boxes
from zfcore.vis.invariance import invariance_curves

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(cupy_or_none() is None, reason="needs CuPy and a CUDA device")]
TOL = 1e-4      # float32 on cuBLAS against host BLAS


def twins():
    return make_plus_net(), make_plus_net().to("cupy")


def images():
    x = noise_images(12, seed=11, amp=0.01)
    for k, (i, j, a) in enumerate([(4, 4, 1.0), (9, 11, 1.3), (12, 6, 1.1)]):
        plant(x[3 * k + 1], i, j, a)
    return x


def test_topk_projection_occlusion_on_gpu(tmp_path):
    cp = cupy_or_none()
    ref, dev = twins()
    x = images()
    xd = cp.asarray(x)
    t_ref = top_activations(ref, Inputs(x), ["relu1", "pool2"], k=3)
    t_dev = top_activations(dev, Inputs(xd), ["relu1", "pool2"], k=3)
    for name in t_ref:
        assert t_dev[name].image.tolist() == t_ref[name].image.tolist()
        np.testing.assert_allclose(t_dev[name].values, t_ref[name].values, rtol=TOL, atol=TOL)
    r_ref = ref.project_units(x, "pool2", [0] * 12)
    r_dev = to_numpy(dev.project_units(xd, "pool2", [0] * 12))
    np.testing.assert_allclose(r_dev, r_ref, rtol=TOL, atol=TOL * np.abs(r_ref).max())
    o_ref = occlusion(ref, x[4], 0, 4, 2, layer="pool2")
    o_dev = occlusion(dev, xd[4], 0, 4, 2, layer="pool2")
    assert o_dev["channel"] == o_ref["channel"]
    for key in ("prob", "activation"):
        np.testing.assert_allclose(o_dev[key], o_ref[key], rtol=TOL, atol=TOL)
    i_ref = invariance_curves(ref, x[4], 0, "rotate", [0, 30, 90], layers=["relu1", "pool2"])
    i_dev = invariance_curves(dev, xd[4], 0, "rotate", [0, 30, 90], layers=["relu1", "pool2"])
    for name in ("relu1", "pool2"):
        np.testing.assert_allclose(i_dev["distance"][name], i_ref["distance"][name], rtol=TOL,
                                   atol=TOL)
    boxes = np.tile([2, 2, 8, 8], (12, 1))
    d_ref = delta(ref, x, mask_boxes(x, boxes), ["relu1", "fc3"])
    d_dev = delta(dev, xd, mask_boxes(xd, boxes), ["relu1", "fc3"])
    assert d_dev == pytest.approx(d_ref, abs=0.02)
    rec = EvolutionRecorder(dev, xd, str(tmp_path), layers=["relu1"], n_maps=2)
    rec.record(1)
    assert len(rec.save()) == 1
