"""Units of work: each result of an experiment (one variant and seed, one split and k, ...) is a
JSON file of its own, written atomically when the unit is done; a rerun skips the units done.

    store = Store("runs/experiments/ablation", protocol)     # protocol.json: what the run is
    row = store.run("no-7-seed0", lambda: train_and_score(...))   # skipped if done

``root/protocol.json`` holds the protocol (dataset, classes, splits, k, seeds, epochs, ...);
every unit file repeats it, so one file can be read alone. A folder that holds the results of
another protocol is refused (``ProtocolError``, naming the settings that differ) rather than
mixed with new ones. A unit interrupted half way leaves no file (``zfcore.atomic``): it is run
again next time.
"""
import json
import os
import re
import time

from zfcore.atomic import atomic_write


class ProtocolError(Exception):
    """The folder holds results of another protocol; the message names what differs."""


def _plain(obj):
    """The protocol as it reads back from JSON (tuples -> lists, ...)."""
    return json.loads(json.dumps(obj))


def write_json(path, obj):
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


class Store:
    """The results of one experiment under ``root``, for one ``protocol`` (a JSON-able dict)."""

    def __init__(self, root, protocol, log=print):
        self.root, self.protocol, self.log = os.fspath(root), _plain(protocol), log
        self.units = os.path.join(self.root, "units")
        os.makedirs(self.units, exist_ok=True)
        path = os.path.join(self.root, "protocol.json")
        if os.path.exists(path):
            with open(path) as f:
                have = json.load(f)
            if have != self.protocol:
                keys = sorted(k for k in set(have) | set(self.protocol)
                              if have.get(k) != self.protocol.get(k))
                raise ProtocolError(
                    "%s holds results of another protocol (differs in: %s); use another --out "
                    "or remove it" % (self.root, ", ".join(keys)))
        else:
            write_json(path, self.protocol)

    def path(self, key):
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", key):
            raise ValueError("unit key %r: letters, digits and _.+- only" % key)
        return os.path.join(self.units, key + ".json")

    def get(self, key):
        """The result of unit ``key``, or None when it is not done."""
        path = self.path(key)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)["result"]

    def done(self, key):
        return os.path.exists(self.path(key))

    def put(self, key, result):
        write_json(self.path(key), {"unit": key, "protocol": self.protocol,
                                    "result": _plain(result)})

    def run(self, key, work):
        """The result of unit ``key``: the stored one, or ``work()`` (a JSON-able dict; its
        ``seconds`` are added) written atomically once it returns."""
        have = self.get(key)
        if have is not None:
            self.log("%s: done before, skipped" % key)
            return have
        t0 = time.time()
        result = dict(work())
        result["seconds"] = round(time.time() - t0, 2)
        self.put(key, result)
        self.log("%s: done in %.0f s" % (key, result["seconds"]))
        return _plain(result)

    def results(self):
        """{key: result} of every unit done, in key order."""
        out = {}
        for name in sorted(os.listdir(self.units)):
            if name.endswith(".json"):
                out[name[:-5]] = self.get(name[:-5])
        return out


def read(root):
    """(protocol, {key: result}) of the store at ``root`` as it stands (a run may be going on
    or have been cut short: the units done so far), or (None, {}) where there is none."""
    path = os.path.join(os.fspath(root), "protocol.json")
    if not os.path.exists(path):
        return None, {}
    with open(path) as f:
        proto = json.load(f)
    return proto, Store(root, proto, log=lambda *_: None).results()
