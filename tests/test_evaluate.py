import numpy as np
import pytest

from tests.nets import tiny_zfnet
from zfcore import cli
from zfcore.evaluate import main, topk_errors
from zfcore.train import main as train_main


def test_topk_errors_against_counting_by_hand():
    rng = np.random.default_rng(0)
    probs = rng.random((50, 7))
    labels = rng.integers(0, 7, 50)
    for k in (1, 3, 5):
        miss = 0
        for p, y in zip(probs, labels):
            rank = sum(1 for q in p if q > p[y])      # how many classes beat the label
            miss += rank >= k
        assert topk_errors(probs, labels, ks=(k,))[k] == pytest.approx(miss / 50)


def test_evaluate_cli_prints_centre_and_ten_crop_errors(tmp_path, capsys):
    run = str(tmp_path / "run")
    cli.run(train_main, ["--n-train", "128", "--epochs", "1", "--quiet", "--no-evolution",
                         "--out", run], prog="zfcore.train")
    capsys.readouterr()
    main([run + "/checkpoint.h5", "--split", "val", "--batch-size", "100"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("centre crop") and lines[1].startswith("10 crops")
    for line in lines:
        top1 = float(line.split("top-1 error ")[1].split("%")[0])
        top5 = float(line.split("top-5 error ")[1].split("%")[0])
        assert 0 <= top5 <= top1 <= 100


def test_evaluate_refuses_data_with_another_number_of_classes(tmp_path, capsys):
    run = str(tmp_path / "run")
    cli.run(train_main, ["--n-train", "128", "--epochs", "1", "--quiet", "--no-evolution",
                         "--out", run], prog="zfcore.train")
    folder = tmp_path / "two"
    from PIL import Image
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(12):
            image = Image.fromarray(np.full((70, 70, 3), 20 * i, np.uint8))
            image.save(folder / c / ("%d.png" % i))
    with pytest.raises(SystemExit) as e:
        cli.run(main, [run + "/checkpoint.h5", "--data", str(folder)], prog="zfcore.evaluate")
    assert e.value.code == 2
    assert "classes" in capsys.readouterr().err


def test_ten_crop_errors_match_averaging_each_images_crops_by_hand():
    """Batch by batch (and a last batch that is not full) gives the errors of looping over the
    images one at a time: the 4 corners, the centre and their mirror images, softmax averaged."""
    from zfcore.data import open_dataset
    from zfcore.evaluation import evaluate
    from zfcore.layers.loss import softmax
    net = tiny_zfnet(12)
    ds = open_dataset("synthetic", "test", size=36, n=23)
    crop, miss1, miss5 = 32, 0, 0
    for image, label in zip(ds.images, ds.labels):
        x = image.astype(np.float32) - ds.mean
        crops = []
        for y0, x0 in ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2)):
            c = x[y0:y0 + crop, x0:x0 + crop].transpose(2, 0, 1)
            crops += [c, c[:, :, ::-1]]
        p = np.mean([softmax(net.forward(np.ascontiguousarray(c)[None], train=False))[0]
                     for c in crops], axis=0)
        rank = int((p > p[label]).sum())
        miss1 += rank >= 1
        miss5 += rank >= 5
    for batch_size in (30, 128):       # 3 images per forward pass; all 23 in one
        e = evaluate(net, ds, crop, batch_size=batch_size, ten_crops=True)
        assert e["top1"] == pytest.approx(miss1 / 23) and e["top5"] == pytest.approx(miss5 / 23)
    assert 0 < miss5 < miss1 < 23      # a test that could fail: the two errors differ


def test_ten_crops_of_an_image_as_large_as_the_crop_are_two_passes_with_the_ten_crop_average(
        monkeypatch):
    """32 x 32 images, 32 x 32 crops: the five places coincide, so the net sees each image and
    its mirror image only (2 passes an image, not 10), and the probabilities are still the
    10-crop average taken by hand (10 passes, averaged)."""
    from zfcore.data import open_dataset, ten_crop
    from zfcore.evaluation import predict
    from zfcore.layers.loss import softmax
    net = tiny_zfnet(12)
    ds = open_dataset("synthetic", "test", size=32, n=9)
    by_hand = softmax(net.forward(ten_crop(ds.images, ds.mean, 32), train=False))
    by_hand = by_hand.reshape(9, 10, -1).mean(axis=1)
    seen, forward = [], net.forward

    def counting(x, **kw):
        seen.append(len(x))
        return forward(x, **kw)

    monkeypatch.setattr(net, "forward", counting)
    got = predict(net, ds, 32, batch_size=8, ten_crops=True)
    assert sum(seen) == 9 * 2 and max(seen) <= 8
    np.testing.assert_allclose(got, by_hand, rtol=1e-5, atol=1e-7)
    assert np.abs(by_hand - softmax(forward(ten_crop(ds.images, ds.mean, 32)[::10],
                                            train=False))).max() > 1e-4   # mirrors do matter


def test_the_net_never_sees_more_than_a_batch(monkeypatch):
    """Peak memory is one batch: the 10-crop test feeds batch_size crops, not 10 x batch_size
    (the 2,000-image evaluation held 3.3 GB), and the probabilities are not kept."""
    from zfcore.data import open_dataset
    from zfcore.evaluation import evaluate
    net = tiny_zfnet(12)
    ds = open_dataset("synthetic", "test", size=36, n=25)
    seen, forward = [], net.forward

    def counting(x, **kw):
        seen.append(len(x))
        return forward(x, **kw)

    monkeypatch.setattr(net, "forward", counting)
    for ten in (False, True):
        seen.clear()
        evaluate(net, ds, 32, batch_size=20, ten_crops=ten)
        assert max(seen) <= 20 and sum(seen) == 25 * (10 if ten else 1)


def test_evaluate_takes_a_run_folder_and_names_one_without_a_checkpoint(tmp_path, capsys):
    from zfcore.checkpoint import save_checkpoint
    from zfcore.data import open_dataset
    run = tmp_path / "run"
    run.mkdir()
    ds = open_dataset("synthetic", "train", size=32, n=24)
    save_checkpoint(str(run / "checkpoint.h5"), tiny_zfnet(12), None, ds.mean, ds.class_names,
                    {"epoch": 1, "data": "synthetic", "data_args": {"size": 32, "n": 20}})
    main([str(run), "--device", "cpu"])
    out = capsys.readouterr().out
    assert "10 crops" in out and "20 images" in out
    with pytest.raises(SystemExit) as e:
        cli.run(main, [str(tmp_path)], prog="zfcore.evaluate")
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert err.startswith("zfcore.evaluate: error: checkpoint %s: a folder with no "
                          "checkpoint.h5" % tmp_path)
