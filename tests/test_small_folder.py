"""A user's small image folder (200 PNGs of two classes) learns with the default command: the
defaults scale with the data (batch, epochs, plateau rule) and the run prints its choices."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from zfcore.recipe import anneal_epoch, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_folder(root, n_per_class=100, size=64, seed=0):
    """root/disc/*.png and root/square/*.png: one bright disc or square of random size,
    position and colour on dark noise. Both have the same range of colours and areas, so the
    mean colour of an image does not tell the class: the shape does."""
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    for cls in ("disc", "square"):
        os.makedirs(os.path.join(root, cls))
        for i in range(n_per_class):
            img = Image.fromarray(rng.integers(0, 120, (size, size, 3), dtype=np.uint8))
            r = int(rng.integers(10, 20))
            cx, cy = (int(v) for v in rng.integers(r + 2, size - r - 2, 2))
            colour = tuple(int(v) for v in rng.integers(140, 256, 3))
            draw = ImageDraw.Draw(img)
            (draw.ellipse if cls == "disc" else draw.rectangle)((cx - r, cy - r, cx + r, cy + r),
                                                                fill=colour)
            img.save(os.path.join(root, cls, "%03d.png" % i))


def test_the_defaults_scale_with_the_training_set_and_keep_the_default_run():
    assert training("zfnet_small", n_train=10000) == training("zfnet_small")   # batch 128, 8, 2
    t = training("zfnet_small", n_train=160)
    assert (t["batch_size"], t["epochs"], t["patience"]) == (16, 30, 10)
    t = training("zfnet_small", n_train=160, batch_size=64)        # a batch given: 3 steps
    assert (t["batch_size"], t["epochs"], t["patience"]) == (64, 100, 34)


def test_the_32x32_nets_wait_4_epochs_on_a_cifar_sized_set_and_the_others_2():
    for arch in ("zfnet_small32", "alexnet_small32"):
        assert training(arch)["patience"] == 4 == training(arch, n_train=45000)["patience"]
        assert training(arch, n_train=160)["patience"] == 10      # small sets: PLATEAU_STEPS
    for arch in ("zfnet_small", "zfnet", None):
        assert training(arch)["patience"] == 2 == training(arch, n_train=45000)["patience"]


def test_the_32x32_nets_anneal_after_epoch_20_of_30_and_the_others_only_on_a_plateau():
    assert anneal_epoch(dict(training("zfnet_small32"), epochs=30)) == 20
    assert anneal_epoch(dict(training("alexnet_small32"), epochs=8)) == 6
    assert anneal_epoch(dict(training("zfnet_small32"), epochs=1)) is None  # no epoch after it
    for arch in ("zfnet_small", "zfnet", None):
        assert anneal_epoch(dict(training(arch), epochs=30)) is None


@pytest.mark.slow
def test_a_200_image_two_class_folder_learns_with_the_default_command(tmp_path):
    data = str(tmp_path / "myfolder")
    make_folder(data)
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "zfcore.train", "--data", data, "--out",
                        str(tmp_path / "run")], cwd=str(tmp_path), capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    seconds = time.time() - t0
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "160 train / 20 val images: batch 16, 10 steps an epoch, 30 epochs " \
        "(300 steps)", lines[0]
    assert lines[1].startswith("lr 0.01, x0.1 after 10 epochs (100 steps) without a better")
    acc = float(re.search(r"^test accuracy ([\d.]+)% .* on 20 ", p.stdout, re.M).group(1))
    assert acc >= 90, p.stdout
    print("small folder: %.0f%% test accuracy in %.0f s" % (acc, seconds))
