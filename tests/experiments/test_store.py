"""Units of work: a unit's JSON is there only once the unit is complete, a rerun skips what is
done, and a folder of another protocol is refused."""
import json
import os

import pytest

from zfcore.experiments import store as store_mod
from zfcore.experiments.store import ProtocolError, Store

PROTO = {"data": "synthetic", "k": [1, 2], "seeds": (0, 1)}


def quiet(*_):
    pass


def test_a_rerun_skips_the_units_done(tmp_path):
    calls = []

    def work(v):
        calls.append(v)
        return {"value": v}

    s = Store(tmp_path, PROTO, log=quiet)
    assert s.run("a", lambda: work(1))["value"] == 1
    again = Store(tmp_path, PROTO, log=quiet)          # a new process, the same protocol
    assert again.run("a", lambda: work(2))["value"] == 1
    assert again.run("b", lambda: work(3))["value"] == 3
    assert calls == [1, 3]
    with open(s.path("a")) as f:
        saved = json.load(f)
    assert saved["protocol"] == json.loads(json.dumps(PROTO)) and saved["unit"] == "a"
    assert "seconds" in saved["result"]


def test_a_unit_that_fails_leaves_no_file(tmp_path):
    s = Store(tmp_path, PROTO, log=quiet)

    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        s.run("a", boom)
    assert not s.done("a") and os.listdir(s.units) == []


def test_a_write_cut_off_half_way_leaves_no_unit_and_no_temporary(tmp_path, monkeypatch):
    s = Store(tmp_path, PROTO, log=quiet)

    def half(obj, f, **kw):
        f.write(json.dumps(obj)[:20])            # part of the file, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(store_mod.json, "dump", half)
    with pytest.raises(KeyboardInterrupt):
        s.run("a", lambda: {"value": 1})
    monkeypatch.undo()
    assert os.listdir(s.units) == []
    assert s.run("a", lambda: {"value": 2})["value"] == 2      # run again next time


def test_another_protocol_is_refused_naming_what_differs(tmp_path):
    Store(tmp_path, PROTO, log=quiet)
    with pytest.raises(ProtocolError, match=r"differs in: k\b"):
        Store(tmp_path, dict(PROTO, k=[1, 2, 5]), log=quiet)
