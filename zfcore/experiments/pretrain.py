"""The pretrained net of Sec. 5.2 and 5.3: the base net trained on the source classes only.

Z&F pretrain on ImageNet and keep the net for Caltech and PASCAL; here the base net is trained
on the source classes of the dataset (``Setup.source_classes``) with ``fit``, the run kept in
``root/pretrain-<id>/seed<s>/`` (checkpoint.h5, best.h5, metrics.csv): an interrupted
pretraining resumes from its last checkpoint, a finished one is loaded. ``<id>`` is a digest
of the protocol, so the transfer and probe experiments share one pretrained net when they ask
for the same one, and a different budget gets its own folder.
"""
import hashlib
import json
import os

from zfcore.checkpoint import load_checkpoint
from zfcore.experiments.store import Store
from zfcore.experiments.training import errors, train
from zfcore.models import build


VAL_PER_CLASS = 40


def protocol(setup, budget, per_class, seed):
    return dict(setup.protocol(), what="pretrain on the source classes", budget=budget,
                per_class=per_class, val_per_class=VAL_PER_CLASS, seed=seed)


def folder(root, proto):
    digest = hashlib.sha1(json.dumps(proto, sort_keys=True).encode()).hexdigest()[:8]
    return os.path.join(root, "pretrain-%s" % digest)


def find_result(root, proto):
    """The result of the pretraining an experiment's protocol ``proto`` names (its data and net
    fields, and ``proto['pretrain']``'s budget and images a class), or None if not done."""
    import glob
    setup_keys = ("data", "arch", "width", "size", "data_seed", "source_classes",
                  "target_classes")
    for path in sorted(glob.glob(os.path.join(root, "pretrain-*", "protocol.json"))):
        with open(path) as f:
            have = json.load(f)
        if all(have.get(k) == proto.get(k) for k in setup_keys) and \
                have.get("budget") == proto["pretrain"]["budget"] and \
                have.get("per_class") == proto["pretrain"]["per_class"] and \
                have.get("seed") == proto.get("seed"):
            return Store(os.path.dirname(path), have, log=lambda *_: None).get(
                "seed%d" % have["seed"])
    return None


def pretrained(root, setup, budget, per_class, seed=0, log=print):
    """(net, mean, result): the base net trained on ``per_class`` images of each source class with
    ``budget`` (``fit`` settings), validated on the source classes' val split; trained once,
    then loaded from its checkpoint; ``mean`` the source images' mean the net was trained
    with (the target images are given the same); ``result``: its train and val errors."""
    proto = protocol(setup, budget, per_class, seed)
    store = Store(folder(root, proto), proto, log=log)
    run_dir = os.path.join(store.root, "seed%d" % seed)
    key = "seed%d" % seed

    def work():
        train_ds = setup.open("train", setup.source_classes, per_class)
        val_ds = setup.open("val", setup.source_classes, VAL_PER_CLASS, mean=train_ds.mean)
        net = build(setup.base_spec(len(setup.source_classes)), seed=seed)
        ck = os.path.join(run_dir, "checkpoint.h5")
        train(net, train_ds, val_ds, budget, seed, device=setup.device, out_dir=run_dir,
              resume=run_dir if os.path.exists(ck) else None, verbose=1)
        net = load_checkpoint(ck).net
        tr, va = errors(net, train_ds), errors(net, val_ds)
        return dict(train_top1_err=tr["top1"], val_top1_err=va["top1"],
                    val_top5_err=va["top5"], n_train=len(train_ds), n_val=len(val_ds),
                    checkpoint=os.path.relpath(ck, root))

    result = store.run(key, work)
    ck = load_checkpoint(os.path.join(run_dir, "checkpoint.h5"))
    return ck.net, ck.mean, result

