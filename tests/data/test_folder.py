"""Image folders root/<class>/<image>: decoding, splits, skipped images, mistakes."""
import os

import numpy as np
import pytest

from zfcore.data import DataError, open_dataset
from zfcore.data.base import pixel_mean
from zfcore.data.folder import decode, plan

from .conftest import FOLDER_COLOURS, make_folder, save_image


def test_loads_every_split_with_labels_from_sorted_class_folders(folder_root):
    seen = 0
    for split in ("train", "val", "test"):
        ds = open_dataset(folder_root, split, size=16)
        assert ds.class_names == ["apple", "banana", "cherry"]
        assert ds.name == "fruit" and ds.boxes is None and ds.masks is None and ds.skipped == 0
        assert ds.images.shape == (len(ds), 16, 16, 3) and ds.images.dtype == np.uint8
        for img, label in zip(ds.images, ds.labels):
            colour = np.array(FOLDER_COLOURS[ds.class_names[label]])
            assert np.abs(img.astype(int) - colour).max() <= 6      # JPEG is close, PNG exact
        seen += len(ds)
    assert seen == 18


def test_splits_partition_each_class_deterministically(folder_root):
    names, (val, _), (train, _) = plan(folder_root, "val")
    _, (test, _), _ = plan(folder_root, "test")
    assert len(val) == len(test) == 3 and len(train) == 12     # one of six per class each
    assert not set(val) & set(test) and not set(train) & (set(val) | set(test))
    assert sorted(train + val + test) == sorted(
        os.path.join(folder_root, c, f)
        for c in names for f in os.listdir(os.path.join(folder_root, c)))
    assert plan(folder_root, "val")[1][0] == val                 # stable


def test_short_side_resized_then_centre_cropped(tmp_path):
    """A wide image whose outer quarters are red and centre half green: only green survives."""
    img = np.zeros((40, 80, 3), dtype=np.uint8)
    img[:, :20] = (255, 0, 0)
    img[:, 60:] = (255, 0, 0)
    img[:, 20:60] = (0, 255, 0)
    save_image(tmp_path / "wide.png", img)
    out = decode(str(tmp_path / "wide.png"), 20)
    assert out.shape == (20, 20, 3)
    assert out[:, 1:-1, 1].min() == 255 and out[:, 1:-1, 0].max() == 0
    # a tall greyscale image becomes RGB with equal channels
    save_image(tmp_path / "tall.png", np.tile(np.arange(60, dtype=np.uint8)[:, None], (1, 30)))
    out = decode(str(tmp_path / "tall.png"), 10)
    assert out.shape == (10, 10, 3) and np.array_equal(out[..., 0], out[..., 2])
    assert np.all(np.diff(out[:, 5, 0].astype(int)) > 0)        # rows 15..45 kept, in order


def test_mean_is_the_train_split_mean_for_every_split(folder_root):
    tr = open_dataset(folder_root, "train", size=8)
    va = open_dataset(folder_root, "val", size=8)
    np.testing.assert_allclose(tr.mean, pixel_mean(tr.images), atol=1e-4)
    np.testing.assert_array_equal(tr.mean, va.mean)


def test_split_folders_are_used_when_present(tmp_path):
    make_folder(tmp_path / "ds" / "train", per_class=4)
    make_folder(tmp_path / "ds" / "val", per_class=2)
    assert len(open_dataset(str(tmp_path / "ds"), "train", size=8)) == 12
    assert len(open_dataset(str(tmp_path / "ds"), "val", size=8)) == 6
    with pytest.raises(DataError, match="test"):
        open_dataset(str(tmp_path / "ds"), "test", size=8)


def test_unreadable_images_are_skipped_and_counted(folder_root, capsys):
    cls = os.path.join(folder_root, "banana")
    with open(os.path.join(cls, "zz_garbage.jpg"), "wb") as f:
        f.write(b"this is not a jpeg at all" * 10)
    with open(os.path.join(cls, "03.jpg"), "rb") as f:
        data = f.read()
    with open(os.path.join(cls, "03.jpg"), "wb") as f:     # truncated JPEG
        f.write(data[:len(data) // 2])
    with open(os.path.join(cls, "notes.txt"), "w") as f:  # not an image: ignored, not counted
        f.write("hello")
    total = {}
    for split in ("train", "val", "test"):
        ds = open_dataset(folder_root, split, size=8)
        total[split] = (len(ds), ds.skipped, ds.skipped_files)
    skipped = [f for s in total.values() for f in s[2]]
    assert sorted(os.path.basename(f) for f in skipped) == ["03.jpg", "zz_garbage.jpg"]
    assert sum(s[1] for s in total.values()) == 2
    assert sum(s[0] for s in total.values()) == 18 - 1             # 19 files, 2 unreadable
    assert "skipped" in capsys.readouterr().err


def test_n_spreads_over_classes(folder_root):
    ds = open_dataset(folder_root, "train", size=8, n=3)
    assert sorted(ds.labels.tolist()) == [0, 1, 2]


def test_missing_path(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(DataError, match="nowhere: no such file or folder"):
        open_dataset(missing, "train")


def test_empty_class_folder_names_it(folder_root):
    os.makedirs(os.path.join(folder_root, "durian"))
    with pytest.raises(DataError) as e:
        open_dataset(folder_root, "train", size=8)
    assert os.path.join(folder_root, "durian") in str(e.value) and "empty" in str(e.value)
    assert "\n" not in str(e.value)


def test_folder_without_classes(tmp_path):
    (tmp_path / "flat").mkdir()
    save_image(tmp_path / "flat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="no class folders"):
        open_dataset(str(tmp_path / "flat"), "train")


def test_class_with_only_unreadable_images(tmp_path):
    root = make_folder(tmp_path / "f", per_class=3)
    for name in os.listdir(os.path.join(root, "cherry")):
        with open(os.path.join(root, "cherry", name), "wb") as f:
            f.write(b"junk")
    with pytest.raises(DataError, match="cherry"):
        open_dataset(root, "train", size=8)


@pytest.mark.parametrize("source, word", [("imagenet", "neither 'synthetic' nor"), (3, "source"),
                                          ("synthetic", "split")])
def test_unknown_source_and_split(source, word):
    with pytest.raises(DataError, match=word):
        open_dataset(source, "training" if source == "synthetic" else "train")
