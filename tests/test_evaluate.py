import numpy as np
import pytest

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
