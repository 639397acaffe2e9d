"""batches(): deterministic, threads-independent, every image once, the right crops."""
import numpy as np
import pytest

from zfcore.data import DataError, batches, centre_crop, crop_at, epoch_order, num_batches
from zfcore.data.base import Dataset


def small_dataset(n=23, s=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, s, s, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n)                    # image i carries its index
    mean = rng.uniform(0, 255, size=(s, s, 3)).astype(np.float32)
    return Dataset(images, np.arange(n) % 5, list("abcde"), mean, "tiny", "train")


def collect(it):
    xs, ys = zip(*list(it))
    return list(xs), list(ys)


def test_same_seed_same_batches_and_threads_do_not_matter():
    ds = small_dataset()
    ref = collect(batches(ds, 5, 9, True, seed=3, epoch=1, threads=0))
    for threads, prefetch in ((1, 1), (2, 4), (3, 2)):
        got = collect(batches(ds, 5, 9, True, seed=3, epoch=1, threads=threads, prefetch=prefetch))
        for a, b in zip(ref[0] + ref[1], got[0] + got[1]):
            np.testing.assert_array_equal(a, b)


def test_epochs_and_seeds_change_the_order():
    ds = small_dataset()
    y = lambda **k: np.concatenate(collect(batches(ds, 4, 12, True, **k))[1])   # noqa: E731
    assert not np.array_equal(epoch_order(23, 0, 0), epoch_order(23, 0, 1))
    assert not np.array_equal(epoch_order(23, 0, 0), epoch_order(23, 1, 0))
    np.testing.assert_array_equal(y(seed=0, epoch=2), y(seed=0, epoch=2))
    np.testing.assert_array_equal(y(seed=0, epoch=2), ds.labels[epoch_order(23, 0, 2)])


def test_each_image_once_and_last_partial_batch_kept():
    ds = small_dataset(n=23)
    xs, ys = collect(batches(ds, 5, 12, True, seed=1, pad=0))
    assert [len(y) for y in ys] == [5, 5, 5, 5, 3] and num_batches(ds, 5) == 5
    assert all(x.shape[1:] == (3, 12, 12) and x.dtype == np.float32 and x.flags.c_contiguous
               for x in xs)
    # no room to crop and pad=0: each x is one image minus the mean, maybe mirrored
    ref = centre_crop(ds.images, ds.mean, 12)
    seen, flipped = [], 0
    for xi in np.concatenate(xs):
        plain = [k for k in range(23) if np.array_equal(xi, ref[k])]
        mirror = [k for k in range(23) if np.array_equal(xi, ref[k][..., ::-1])]
        assert len(plain + mirror) == 1
        seen += plain + mirror
        flipped += len(mirror)
    assert sorted(seen) == list(range(23)) and 0 < flipped < 23
    np.testing.assert_array_equal(np.sort(np.concatenate(ys)), np.sort(ds.labels))


def test_train_batches_are_crops_of_the_shuffled_images():
    ds = small_dataset(n=10, s=12)
    order = epoch_order(10, 4, 0)
    xs, ys = collect(batches(ds, 10, 8, True, seed=4, threads=2))
    rng = np.random.default_rng(np.random.SeedSequence([4, 0, 0]))
    ysel, xsel, flips = rng.integers(0, 5, 10), rng.integers(0, 5, 10), rng.random(10) < 0.5
    expect = crop_at(ds.images[order], ds.mean, 8, ysel, xsel, flips)
    np.testing.assert_array_equal(xs[0], expect)
    np.testing.assert_array_equal(ys[0], ds.labels[order])


def test_full_size_crops_are_reflect_padded_by_an_eighth():
    ds = small_dataset(n=7, s=16)
    xs, _ = collect(batches(ds, 7, 16, True, seed=2))
    order = epoch_order(7, 2, 0)
    rng = np.random.default_rng(np.random.SeedSequence([2, 0, 0]))
    ysel, xsel, flips = rng.integers(0, 5, 7), rng.integers(0, 5, 7), rng.random(7) < 0.5
    np.testing.assert_array_equal(xs[0], crop_at(ds.images[order], ds.mean, 16, ysel, xsel, flips,
                                                 pad=2))


def test_eval_batches_in_order_centre_crop_mean_subtracted():
    ds = small_dataset(n=11, s=12)
    xs, ys = collect(batches(ds, 4, 8, False))
    np.testing.assert_array_equal(np.concatenate(ys), ds.labels)
    np.testing.assert_array_equal(np.concatenate(xs), centre_crop(ds.images, ds.mean, 8))
    expect = ds.images[:4, 2:10, 2:10].astype(np.float32) - ds.mean[2:10, 2:10]
    np.testing.assert_array_equal(xs[0], expect.transpose(0, 3, 1, 2))


def test_stopping_early_does_not_hang():
    ds = small_dataset(n=200)
    it = batches(ds, 2, 12, True, threads=2, prefetch=8)
    next(it)
    it.close()


@pytest.mark.parametrize("kwargs, word", [(dict(batch_size=0), "batch_size"),
                                          (dict(crop=13), "crop"), (dict(threads=-1), "threads"),
                                          (dict(prefetch=0), "prefetch")])
def test_bad_arguments(kwargs, word):
    args = dict(batch_size=4, crop=8, train=True)
    args.update(kwargs)
    with pytest.raises(DataError, match=word):
        next(batches(small_dataset(), **args))
