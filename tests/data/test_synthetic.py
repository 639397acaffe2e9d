"""The synthetic dataset: deterministic, balanced, boxes around masks, and not linearly solvable."""
import numpy as np
import pytest

from zfcore.data import DataError, open_dataset
from zfcore.data.base import pixel_mean
from zfcore.data.synthetic import CHUNK, MEAN_IMAGES, SHAPES, generate


def test_same_seed_same_bytes_different_seed_different():
    a = generate(3, "train", 150)
    b = generate(3, "train", 150)
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()
    c = generate(4, "train", 150)
    assert a[0].tobytes() != c[0].tobytes()
    assert not np.array_equal(a[1], c[1])
    # The splits are different draws of the same seed.
    assert generate(3, "val", 150)[0].tobytes() != a[0].tobytes()


def test_prefix_and_threads_do_not_change_images():
    n = CHUNK + 37                                    # spans two chunks
    big = generate(1, "test", n, threads=2)
    one = generate(1, "test", n, threads=1)
    small = generate(1, "test", 50)
    for u, v, w in zip(big, one, small):
        assert np.array_equal(u, v)
        assert np.array_equal(u[:50], w)


def test_classes_balanced_and_all_present():
    labels = generate(0, "train", 600)[1]
    assert np.array_equal(np.bincount(labels, minlength=len(SHAPES)), np.full(len(SHAPES), 50))
    counts = np.bincount(generate(0, "val", 301)[1], minlength=len(SHAPES))
    assert counts.max() - counts.min() <= 1
    assert len(SHAPES) >= 10 and len(set(SHAPES)) == len(SHAPES)


def test_boxes_are_tight_around_nonempty_masks():
    images, labels, boxes, masks = generate(2, "train", 600)
    n, s = masks.shape[:2]
    assert images.shape == (n, s, s, 3) and images.dtype == np.uint8
    assert boxes.shape == (n, 4) and masks.dtype == bool
    area = masks.sum(axis=(1, 2))
    assert area.min() >= 40, "some object covers only %d pixels" % area.min()
    y0, x0, y1, x1 = boxes.T
    assert np.all((0 <= y0) & (y0 < y1) & (y1 <= s) & (0 <= x0) & (x0 < x1) & (x1 <= s))
    for i in range(n):
        inside = np.zeros((s, s), dtype=bool)
        inside[y0[i]:y1[i], x0[i]:x1[i]] = True
        m = masks[i]
        assert not np.any(m & ~inside), "mask %d leaves its box" % i
        # tight: the mask touches every side of its box
        assert m[y0[i]].any() and m[y1[i] - 1].any() and m[:, x0[i]].any() and m[:, x1[i] - 1].any()
    # and the object keeps clear of the border strip a 7/8 centre crop removes
    assert y0.min() >= s // 16 and x0.min() >= s // 16 and y1.max() <= s - s // 16


def test_object_pixels_differ_from_background():
    images, _, _, masks = generate(5, "train", 200)
    grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    obj = np.array([g[m].mean() for g, m in zip(grey, masks)])
    bg = np.array([g[~m].mean() for g, m in zip(grey, masks)])
    assert np.median(np.abs(obj - bg)) > 40                       # 0..255 luminance


def test_colour_and_size_do_not_give_the_class_away():
    """Nearest class mean on (mean object colour, mask area) does little better than chance."""
    images, labels, _, masks = generate(6, "train", 1440)
    feats = np.array([np.concatenate([im[m].mean(0) / 255, [m.mean() * 10]])
                      for im, m in zip(images, masks)])
    tr, te = slice(0, 1080), slice(1080, None)
    centres = np.stack([feats[tr][labels[tr] == c].mean(0) for c in range(len(SHAPES))])
    colour_only = np.stack([feats[tr][labels[tr] == c, :3].mean(0) for c in range(len(SHAPES))])
    pred_colour = np.argmin(((feats[te, None, :3] - colour_only[None]) ** 2).sum(-1), axis=1)
    acc_colour = (pred_colour == labels[te]).mean()
    assert acc_colour < 0.15, acc_colour
    pred = np.argmin(((feats[te, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert (pred == labels[te]).mean() < 0.35


def ridge_accuracy(train, test, lams):
    """Closed-form ridge regression of one-hot targets on raw pixels (standardised per pixel),
    in the dual form (K + lam D I) a = Y since pixels outnumber images; {lam: (train accuracy,
    test accuracy)}."""
    (xtr, ytr), (xte, yte) = train, test
    xtr = xtr.reshape(len(xtr), -1).astype(np.float32) / 255
    xte = xte.reshape(len(xte), -1).astype(np.float32) / 255
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-3
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    targets = np.eye(int(ytr.max()) + 1, dtype=np.float32)[ytr]
    gram, cross = xtr @ xtr.T, xte @ xtr.T                            # (N, N), (M, N)
    out = {}
    for lam in lams:
        a = np.linalg.solve(gram + lam * xtr.shape[1] * np.eye(len(xtr), dtype=np.float32), targets)
        out[lam] = ((gram @ a).argmax(1) == ytr).mean(), ((cross @ a).argmax(1) == yte).mean()
    return out


def test_linear_classifier_on_raw_pixels_stays_under_half():
    tr = open_dataset("synthetic", "train", n=2000)
    te = open_dataset("synthetic", "test", n=600)
    results = ridge_accuracy((tr.images, tr.labels), (te.images, te.labels), (0.01, 1.0))
    for lam, (acc_tr, acc_te) in results.items():
        print("ridge lambda=%g*D on raw pixels: train accuracy %.3f, test accuracy %.3f "
              "(chance %.3f)"
              % (lam, acc_tr, acc_te, 1 / len(SHAPES)))
    # The classifier itself works (it fits its training set) ...
    assert results[0.01][0] > 0.9
    # ... but what it learns does not carry over: shape is not a linear function of pixels here.
    assert max(acc for _, acc in results.values()) < 0.5


def test_dataset_fields_and_shared_mean():
    tr = open_dataset("synthetic", "train", n=MEAN_IMAGES + 10, seed=7)
    va = open_dataset("synthetic", "val", n=30, seed=7, size=64)
    assert tr.name == "synthetic" and tr.class_names == list(SHAPES)
    assert tr.images.shape == (MEAN_IMAGES + 10, 64, 64, 3) and tr.labels.dtype == np.int64
    assert va.boxes.shape == (30, 4) and va.masks.shape == (30, 64, 64)
    assert tr.mean.dtype == np.float32 and tr.mean.shape == (64, 64, 3)
    np.testing.assert_array_equal(va.mean, tr.mean)
    np.testing.assert_allclose(tr.mean, pixel_mean(tr.images[:MEAN_IMAGES]), rtol=0, atol=1e-3)
    assert len(open_dataset("synthetic", "test", seed=7, n=5)) == 5


def test_other_sizes():
    ds = open_dataset("synthetic", "train", size=32, n=48)
    assert ds.images.shape == (48, 32, 32, 3) and ds.mean.shape == (32, 32, 3)
    assert ds.masks.sum(axis=(1, 2)).min() > 0 and ds.boxes.max() <= 32


@pytest.mark.parametrize("kwargs, word", [(dict(size=8), "size"), (dict(n=0), "n"),
                                          (dict(seed=-1), "seed"), (dict(size="64"), "size")])
def test_bad_arguments(kwargs, word):
    with pytest.raises(DataError, match=word):
        open_dataset("synthetic", "train", **kwargs)
