"""Inputs fetched by index: the centre crop, the mean, and the way back to pixels."""
import numpy as np
import pytest

from zfcore.vis.probe import Inputs


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

