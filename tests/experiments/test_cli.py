"""``python -m zfcore.experiments``: tiny runs of the three experiments in-process, the rerun
that skips every unit done, the report, and a user's mistakes as one line with exit 2."""
import json
import os

import pytest

from zfcore import cli
from zfcore.experiments import ablation, transfer
from zfcore.experiments.__main__ import main

TINY = ["--width", "0.125"]
PRE = ["--pretrain-epochs", "1", "--pretrain-per-class", "2", "--test-per-class", "2"]
ABL = ["ablation", "--variants", "base,no-7", "--seeds", "0", "--epochs", "1", "--per-class",
       "2", "--val-per-class", "1"] + TINY


def run(argv):
    return cli.run(main, argv, prog="zfcore.experiments")


def test_tiny_runs_then_a_rerun_trains_nothing(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "exp")
    assert run(ABL + ["--out", out]) == 0
    assert run(["transfer", "--k", "1,2", "--splits", "1", "--steps", "2", "--out", out]
               + TINY + PRE) == 0
    pytest.importorskip("sklearn")
    assert run(["probes", "--k", "1", "--splits", "1", "--out", out] + TINY + PRE) == 0
    units = sorted(os.listdir(os.path.join(out, "transfer", "units")))
    assert units == ["k1-split0-pretrained.json", "k1-split0-scratch.json",
                     "k2-split0-pretrained.json", "k2-split0-scratch.json"]
    with open(os.path.join(out, "ablation", "results.json")) as f:
        res = json.load(f)
    assert [r["variant"] for r in res["rows"]] == ["base", "no-7"]
    assert res["protocol"]["seeds"] == [0] and res["protocol"]["budget"]["epochs"] == 1
    page = open(os.path.join(out, "report.html")).read()
    for text in ("Table 3", "Fig. 9", "Table 7", "Reference only", "ImageNet 2012"):
        assert text in page
    assert os.path.exists(os.path.join(out, "transfer", "figures", "transfer.png"))
    # a run cut short: the report rebuilds the tables from the units that are there
    os.remove(os.path.join(out, "transfer", "units", "k2-split0-scratch.json"))
    os.remove(os.path.join(out, "transfer", "results.json"))
    assert run(["report", "--out", out]) == 0
    with open(os.path.join(out, "transfer", "results.json")) as f:
        rows = {(r["arm"], r["k"]): r["splits"] for r in json.load(f)["rows"]}
    assert rows == {("pretrained", 1): 1, ("pretrained", 2): 1, ("scratch", 1): 1,
                    ("scratch", 2): 0}

    def no_training(*a, **k):
        raise AssertionError("a unit done before was trained again")

    trained = []

    def counted(net, train_ds, *a, **k):
        trained.append(transfer.fingerprint(train_ds))
        return real(net, train_ds, *a, **k)

    real = transfer.train
    monkeypatch.setattr(ablation, "train", no_training)
    monkeypatch.setattr(transfer, "train", counted)
    capsys.readouterr()
    assert run(ABL + ["--out", out]) == 0
    assert run(["transfer", "--k", "1,2", "--splits", "1", "--steps", "2", "--out", out]
               + TINY + PRE) == 0
    # 2 ablation units, the pretraining and 3 transfer units skipped; the one removed runs
    printed = capsys.readouterr().out
    assert printed.count("done before, skipped") == 2 + 1 + 3, printed
    assert len(trained) == 1
    with open(os.path.join(out, "transfer", "units", "k2-split0-scratch.json")) as f:
        assert json.load(f)["result"]["images"] == trained[0]


def test_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    out = str(tmp_path / "exp")
    for argv, words in ((["ablation", "--variants", "no-9"], "unknown 'no-9'"),
                        (["report", "--out", out], "no experiment results"),
                        (["transfer", "--k", "0"], "--k must be positive"),
                        (["ablation", "--data", str(tmp_path / "nope")], "no such file")):
        with pytest.raises(SystemExit) as e:
            run(argv + (["--out", out] if "--out" not in argv else []))
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("zfcore.experiments: error: ")
        assert words in err, err


def test_a_folder_of_another_protocol_is_refused(tmp_path, capsys):
    out = str(tmp_path / "exp")
    assert run(ABL + ["--out", out]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run(ABL[:-2] + ["--width", "0.25", "--out", out])
    assert e.value.code == 2
    assert "another protocol (differs in: width)" in capsys.readouterr().err
