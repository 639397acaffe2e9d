"""Dead-filter fraction and the aliasing measure on constructed inputs."""
import numpy as np

from tests.vis.plusnet import noise_images, plant
from zfcore.vis.filters import compare_architectures, dead_fraction, filter_tiles, high_freq_share
from zfcore.vis.probe import Inputs


def test_dead_fraction_is_exact_on_constructed_filters():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((10, 3, 5, 5)).astype(np.float32)
    W /= np.sqrt((W.reshape(10, -1) ** 2).mean(axis=1))[:, None, None, None]   # every RMS 1
    W[[1, 4, 7]] *= 0.04                        # below 5% of the largest
    W[2] *= 0.06                                # just above: alive
    assert dead_fraction(W) == 0.3
    W[[1, 4, 7]] = 0.0
    assert dead_fraction(W) == 0.3
    assert dead_fraction(W, rel=0.1) == 0.4
    assert dead_fraction(np.zeros((4, 3, 3, 3))) == 1.0


def test_checkerboard_is_all_high_frequency_and_a_blob_none():
    yy, xx = np.mgrid[:32, :32]
    checker = ((yy + xx) % 2).astype(float)
    blob = np.exp(-((yy - 15.5) ** 2 + (xx - 15.5) ** 2) / (2 * 4.0 ** 2))
    share = high_freq_share(np.stack([checker, blob, np.zeros((32, 32))]))
    assert share[0] == 1.0 or abs(share[0] - 1.0) < 1e-12
    assert share[1] < 1e-3
    assert share[2] == 0.0
    # colour pictures: channels add up; stripes at 1/3 cycle per pixel are above Nyquist/2 (0.25)
    stripes = np.cos(2 * np.pi * xx / 3.0)
    rgb = np.stack([np.stack([stripes, blob, blob])])
    assert 0.3 < high_freq_share(rgb)[0] < 1.0


def test_filter_tiles_share_one_scale():
    W = np.zeros((2, 3, 3, 3), dtype=np.float32)
    W[0, 0, 1, 1] = 2.0
    W[1, 2, 0, 0] = -0.2
    t = filter_tiles(W)
    assert t.shape == (2, 3, 3, 3)
    assert t[0, 1, 1, 0] == 1.0 and abs(t[1, 0, 0, 2] - 0.45) < 1e-7 and t[1, 1, 1, 1] == 0.5


def test_compare_architectures_reports_both_numbers(tmp_path, plus_net):
    # plus_net's conv1 filters 1-3 are its random init times 0.1: RMS ~1% of the plus's
    from tests.vis.plusnet import make_plus_net
    other = make_plus_net(seed=1)
    other.params()["conv1.W"][1:] = np.random.default_rng(0).standard_normal((3, 3, 3, 3))
    x = noise_images(6, seed=2)
    plant(x[2], 6, 6, 1.0)
    path = tmp_path / "cmp.png"
    stats = compare_architectures({"a": plus_net, "b": other}, Inputs(x), str(path), n_maps=4)
    assert path.exists()
    assert stats["a"]["dead_fraction"] == 0.75 and stats["b"]["dead_fraction"] == 0.0
    assert 0.0 <= stats["a"]["aliasing"] <= 1.0


def test_train_pair_trains_both_in_process_with_the_same_budget(tmp_path, monkeypatch, capsys):
    import zfcore.train
    import zfcore.visualize
    from zfcore.visualize import train_pair
    runs = []
    monkeypatch.setattr(zfcore.train, "train", lambda args: runs.append(vars(args).copy()))
    paths = train_pair("synthetic", str(tmp_path), 3, seed=5, extra=["--n-train", "100"])
    assert [r["arch"] for r in runs] == ["alexnet_small", "zfnet_small"]
    assert [r["out"] for r in runs] == [str(tmp_path / a) for a in ("alexnet_small", "zfnet_small")]
    same = [{k: v for k, v in r.items() if k not in ("arch", "out")} for r in runs]
    assert same[0] == same[1]                     # the same data, epochs, seed and options
    assert (same[0]["data"], same[0]["epochs"], same[0]["seed"], same[0]["n_train"]) == \
        ("synthetic", 3, 5, 100)
    assert paths["zfnet_small"] == str(tmp_path / "zfnet_small" / "checkpoint.h5")

    def fail(args):
        raise zfcore.train.TrainingError("loss became nan at epoch 1, step 2")
    monkeypatch.setattr(zfcore.train, "train", fail)
    argv = ["train-pair", "--data", "synthetic", "--epochs", "1", "--out", str(tmp_path)]
    assert zfcore.visualize.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training alexnet_small failed: loss became nan" in err
    # --train-args is read by the training command's own parser
    assert zfcore.visualize.main(argv + ["--train-args", "--n-train 0"]) == 2
    assert "--n-train must be positive" in capsys.readouterr().err
    assert zfcore.visualize.main(argv + ["--train-args=--no-such-option"]) == 2
    assert "--no-such-option" in capsys.readouterr().err
