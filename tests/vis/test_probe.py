"""Inputs fetched by index: the centre crop, the mean, and the way back to pixels."""
import numpy as np
import pytest

from zfcore.vis.probe import Inputs, keep_units


def test_from_images_crops_subtracts_the_mean_and_goes_back():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 10, 10, 3), dtype=np.uint8)
    mean = rng.uniform(0, 255, (10, 10, 3)).astype(np.float32)
    inputs = Inputs.from_images(images, mean, crop=6)
    assert len(inputs) == 5 and inputs.hw == (6, 6)
    x = inputs.x([4, 1])
    expected = images[[4, 1], 2:8, 2:8].astype(np.float32) - mean[2:8, 2:8]
    np.testing.assert_array_equal(x, expected.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(inputs.pixels(x), images[[4, 1], 2:8, 2:8] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(inputs.rgb([4, 1]), images[[4, 1], 2:8, 2:8] / 255.0)
    starts = [s for s, _ in inputs.batches(2)]
    assert starts == [0, 2, 4]
    with pytest.raises(ValueError):
        Inputs.from_images(images, mean, crop=12)


def test_keep_units_keeps_one_value_per_row():
    a = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4) + 1
    r = keep_units(a, [2, 0], [1, 3], [0, 2])
    assert np.count_nonzero(r) == 2
    assert r[0, 2, 1, 0] == a[0, 2, 1, 0] and r[1, 0, 3, 2] == a[1, 0, 3, 2]
    f = keep_units(a.reshape(2, -1), [5, 7])
    assert np.count_nonzero(f) == 2 and f[1, 7] == a.reshape(2, -1)[1, 7]
