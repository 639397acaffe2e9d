"""Transforms against exact array operations; distances 0 at the identity and positive away."""
import numpy as np
import pytest

from tests.vis.plusnet import noise_images, plant
from zfcore.vis.invariance import default_values, invariance_curves, transform


def image(seed=0):
    return np.random.default_rng(seed).standard_normal((3, 9, 9)).astype(np.float32)


def test_identities_return_the_image_exactly():
    x = image()
    for kind, v in (("translate", 0), ("scale", 1.0), ("rotate", 0), ("rotate", 360)):
        np.testing.assert_array_equal(transform(x, kind, [v])[0], x)


def test_translation_is_a_shift_with_fill():
    x = image(1)
    out = transform(x, "translate", [2, -3], fill=7.0)
    down = np.full_like(x, 7.0)
    down[:, 2:] = x[:, :-2]
    up = np.full_like(x, 7.0)
    up[:, :-3] = x[:, 3:]
    np.testing.assert_array_equal(out[0], down)
    np.testing.assert_array_equal(out[1], up)


def test_rotation_by_right_angles_is_rot90():
    x = image(2)
    out = transform(x, "rotate", [90, 180, 270])
    for k in range(3):
        np.testing.assert_allclose(out[k], np.rot90(x, k + 1, axes=(1, 2)), atol=1e-5)


def test_scale_keeps_the_centre_and_halfway_pixels_interpolate():
    x = image(3)
    out = transform(x, "scale", [2.0])[0]
    np.testing.assert_allclose(out[:, 4, 4], x[:, 4, 4], atol=1e-6)
    # output (4, 5) samples input (4, 4.5): the mean of two neighbours
    np.testing.assert_allclose(out[:, 4, 5], (x[:, 4, 4] + x[:, 4, 5]) / 2, atol=1e-5)


def test_default_ranges_scale_with_the_input():
    assert default_values("translate", 224)[[0, -1]].tolist() == [-60, 60]
    assert default_values("translate", 64)[[0, -1]].tolist() == [-17, 17]
    assert default_values("scale", 64)[[0, -1]].tolist() == [1.0, 1.8]
    with pytest.raises(ValueError):
        default_values("shear", 64)


def test_distance_zero_at_identity_and_positive_elsewhere(plus_net):
    x = noise_images(1, seed=6)[0]
    plant(x, 8, 8, 1.2)
    res = invariance_curves(plus_net, x, 0, "translate", [-3, 0, 3], layers=["relu1", "pool2"])
    for name in ("relu1", "pool2"):
        d = res["distance"][name]
        assert d[1] < 1e-6
        assert d[0] > 0.1 and d[2] > 0.1
    # a shifted plus is still the same plus at layer 1: the distance is that of two disjoint
    # copies of the same response, sqrt(2) times the norm
    assert res["distance"]["relu1"][2] == pytest.approx(np.sqrt(2), rel=0.05)
    from zfcore.layers.loss import softmax
    assert res["prob"][1] == pytest.approx(float(softmax(plus_net.forward(x[None]))[0, 0]),
                                           rel=1e-6)
    assert res["images"].shape == (3, 3, 16, 16)
