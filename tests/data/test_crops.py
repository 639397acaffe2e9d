"""Crops, flips and mean subtraction against naive per-image loops."""
import numpy as np
import pytest

from zfcore.data import DataError, centre_crop, crop_at, ten_crop, ten_crop_positions
from zfcore.data.crops import random_crop_flip


def images_and_mean(b=3, h=9, w=11, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(b, h, w, 3), dtype=np.uint8),
            rng.uniform(0, 255, size=(h, w, 3)).astype(np.float32))


def naive_crop(image, mean, y, x, c, flip=False, pad=0):
    """One crop by explicit loops: the oracle."""
    h, w = image.shape[:2]
    out = np.empty((3, c, c), dtype=np.float32)
    for ch in range(3):
        for i in range(c):
            for j in range(c):
                jj = c - 1 - j if flip else j
                yy, xx = y + i - pad, x + jj - pad
                # reflection without repeating the edge (numpy's 'reflect')
                yy = -yy if yy < 0 else (2 * (h - 1) - yy if yy >= h else yy)
                xx = -xx if xx < 0 else (2 * (w - 1) - xx if xx >= w else xx)
                out[ch, i, j] = float(image[yy, xx, ch]) - mean[yy, xx, ch]
    return out


def test_centre_crop_matches_loops():
    imgs, mean = images_and_mean()
    got = centre_crop(imgs, mean, 6)
    assert got.shape == (3, 3, 6, 6) and got.dtype == np.float32
    for b in range(3):
        np.testing.assert_array_equal(got[b],
                                      naive_crop(imgs[b], mean, (9 - 6) // 2, (11 - 6) // 2, 6))


def test_centre_crop_full_size_is_mean_subtraction_in_nchw():
    imgs, mean = images_and_mean(h=8, w=8)
    got = centre_crop(imgs, mean, 8)
    np.testing.assert_array_equal(got, (imgs.astype(np.float32) - mean).transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(centre_crop(imgs, None, 8),
                                  imgs.astype(np.float32).transpose(0, 3, 1, 2))


def test_ten_crop_positions_and_order():
    imgs, mean = images_and_mean(b=2, h=10, w=12)
    c = 7
    got = ten_crop(imgs, mean, c)
    assert got.shape == (20, 3, c, c)
    corners = [(0, 0), (0, 12 - c), (10 - c, 0), (10 - c, 12 - c), ((10 - c) // 2, (12 - c) // 2)]
    assert ten_crop_positions(10, 12, c) == corners
    for b in range(2):
        for k, (y, x) in enumerate(corners):
            np.testing.assert_array_equal(got[10 * b + k], naive_crop(imgs[b], mean, y, x, c))
            np.testing.assert_array_equal(got[10 * b + 5 + k],
                                          naive_crop(imgs[b], mean, y, x, c, flip=True))


def test_ten_crop_of_a_marked_image_finds_the_marks():
    """A 1-pixel mark in each corner: each corner crop holds exactly its own mark, where
    expected."""
    img = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    for v, (y, x) in enumerate([(0, 0), (0, 7), (7, 0), (7, 7)], start=1):
        img[0, y, x] = 10 * v
    out = ten_crop(img, np.zeros((8, 8, 3), np.float32), 5)[:, 0]    # channel 0, (10, 5, 5)
    expect = [(0, 0, 10), (0, 4, 20), (4, 0, 30), (4, 4, 40)]
    for k, (y, x, v) in enumerate(expect):
        assert out[k, y, x] == v and np.count_nonzero(out[k]) == 1
        assert out[5 + k, y, 4 - x] == v and np.count_nonzero(out[5 + k]) == 1
    assert np.count_nonzero(out[4]) == 0                             # the centre sees no corner


def test_crop_at_with_flip_and_reflect_pad_matches_loops():
    imgs, mean = images_and_mean(b=4, h=8, w=8, seed=1)
    ys, xs, flips = [0, 3, 7, 2], [5, 0, 7, 1], [True, False, True, False]
    got = crop_at(imgs, mean, 8, ys, xs, flips, pad=4)
    for b in range(4):
        np.testing.assert_array_equal(got[b],
                                      naive_crop(imgs[b], mean, ys[b], xs[b], 8, flips[b], pad=4))


def test_random_crop_flip_uses_the_rng_as_documented():
    imgs, mean = images_and_mean(b=6, h=9, w=9, seed=2)
    got = random_crop_flip(imgs, mean, 7, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    ys, xs, flips = rng.integers(0, 3, 6), rng.integers(0, 3, 6), rng.random(6) < 0.5
    for b in range(6):
        np.testing.assert_array_equal(got[b], naive_crop(imgs[b], mean, ys[b], xs[b], 7, flips[b]))


def test_random_crops_cover_every_position_and_both_flips():
    imgs = np.zeros((400, 6, 6, 3), dtype=np.uint8)
    imgs[:, :, :, 0] = np.arange(6)[None, :, None] * 10 + np.arange(6)[None, None, :]  # code (y, x)
    out = random_crop_flip(imgs, None, 4, np.random.default_rng(0))[:, 0]
    first = out[:, 0, 0]
    flipped = out[:, 0, 0] > out[:, 0, 3]
    # unflipped crops start at (y, x): code 10y + x; flipped ones end there
    start = np.where(flipped, out[:, 0, 3], first).astype(int)
    assert set(start) == {10 * y + x for y in range(3) for x in range(3)}
    assert 0.35 < flipped.mean() < 0.65


@pytest.mark.parametrize("crop", [0, 12, 3.5, True])
def test_bad_crop(crop):
    imgs, mean = images_and_mean()
    with pytest.raises(DataError, match="crop"):
        centre_crop(imgs, mean, crop)
