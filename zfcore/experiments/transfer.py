"""Transfer by retraining the softmax (Z&F Sec. 5.2, Tables 4-5, Fig. 9).

The base net is pretrained on the source classes (``zfcore.experiments.pretrain``). For each
of ``splits`` random splits and each k: k images of each target class are drawn from the
target pool (``splits.draw_per_class``: nested in k, the same for both arms), and two nets are
trained on exactly those images:

- ``pretrained``: layers 1-7 copied from the pretrained net and kept fixed (``fit(...,
  frozen=...)``: the optimiser leaves them bit for bit), a new softmax layer for the target
  classes trained on top;
- ``scratch``: the same net, not pretrained (the same init of its softmax), trained end to
  end: the paper's "non-pretrained convnet".

Both are scored by the mean per-class accuracy on the target classes' test images, and the
table gives its mean and spread over the splits for each k. k values larger than the pool
holds of every class are dropped (and said so in the protocol). Each (k, split, arm) is one
unit of work.
"""
import hashlib
import os

import numpy as np

from zfcore.experiments import figures, splits
from zfcore.experiments.pretrain import find_result, pretrained
from zfcore.experiments.specs import head, weighted_layers
from zfcore.experiments.store import Store, read, write_json
from zfcore.experiments.training import mean_std, per_class_accuracy, steps_budget, train
from zfcore.models import build

KS = (1, 2, 5, 10, 15, 30, 60)
SPLITS = 5
ARMS = ("pretrained", "scratch")
PRETRAIN = dict(epochs=8, batch_size=32, lr=0.01)
PRETRAIN_PER_CLASS = 200
# the k-image runs: about STEPS SGD steps of at most BATCH images, whatever k is
STEPS, BATCH, LR = 40, 16, 0.01
TEST_PER_CLASS = 40


def protocol(setup, ks, n_splits, pretrain_budget, pretrain_per_class, steps, batch_size, lr,
             test_per_class, seed):
    return dict(setup.protocol(), experiment="transfer (Z&F Sec. 5.2, Fig. 9)", k=list(ks),
                splits=n_splits, arms=list(ARMS), seed=seed,
                pretrain=dict(budget=pretrain_budget, per_class=pretrain_per_class,
                              classes="source"),
                retrain=dict(steps=steps, batch_size=batch_size, lr=lr,
                             frozen="layers 1-7 (every weighted layer but the softmax)"),
                test=dict(per_class=test_per_class, split="test", classes="target",
                          score="mean per-class accuracy"))


def frozen_layers(spec):
    """Layers 1-7 of the paper: every weighted layer but the softmax."""
    return weighted_layers(spec)[:-1]


def target_spec(spec, num_classes):
    out = dict(spec, num_classes=int(num_classes))
    out.pop("variant", None)
    return out


def transfer_net(source_net, num_classes, seed):
    """The net for the target classes: ``source_net``'s layers 1-7 (copies) and a new softmax
    layer drawn from ``seed`` (the same one ``build(spec, seed)`` gives the scratch net)."""
    net = build(target_spec(source_net.spec, num_classes), seed=seed)
    top = head(net.spec) + "."
    for key, a in source_net.params().items():
        if not key.startswith(top):
            net.set_param(key, a.copy())
    return net


def training_set(pool, k, seed, split):
    """The k images of each class of split ``split`` (the same for every arm)."""
    return splits.subset(pool, splits.draw_per_class(pool.labels, k, seed, split))


def fingerprint(ds):
    """A digest of a dataset's pixels and labels (what a run was given)."""
    h = hashlib.sha1(np.ascontiguousarray(ds.images).tobytes())
    h.update(np.ascontiguousarray(ds.labels).tobytes())
    return h.hexdigest()[:16]


def unit(arm, source_net, train_ds, test_ds, k, split, steps=STEPS, batch_size=BATCH, lr=LR,
         device="numpy", callbacks=()):
    """Train one arm on ``train_ds`` (k images per target class) and score it on ``test_ds``.
    The softmax init and the data order come from ``split``."""
    num_classes = train_ds.num_classes
    if arm == "pretrained":
        net = transfer_net(source_net, num_classes, seed=split)
        frozen = frozen_layers(net.spec)
    elif arm == "scratch":
        net = build(target_spec(source_net.spec, num_classes), seed=split)
        frozen = None
    else:
        raise ValueError("arm must be one of %s, got %r" % (", ".join(ARMS), arm))
    budget = steps_budget(len(train_ds), steps, batch_size, lr)
    # no validation split at k images a class: the training images stand in (no lr drops)
    history = train(net, train_ds, train_ds, budget, seed=split, frozen=frozen, device=device,
                    callbacks=callbacks)
    return dict(arm=arm, k=k, split=split, n_train=len(train_ds), images=fingerprint(train_ds),
                accuracy=per_class_accuracy(net, test_ds, device), epochs=len(history),
                steps=history[-1]["step"] if history else 0, batch_size=budget["batch_size"],
                train_loss=history[-1]["train_loss"] if history else None)


def run(root, setup, ks=KS, n_splits=SPLITS, pretrain_budget=None,
        pretrain_per_class=PRETRAIN_PER_CLASS, steps=STEPS, batch_size=BATCH, lr=LR,
        test_per_class=TEST_PER_CLASS, seed=0, log=print):
    """Pretrain (once), then every (k, split, arm) not yet done under ``root``; writes
    ``root/results.json`` and ``root/figures/transfer.png``. Returns the table's rows."""
    pretrain_budget = dict(pretrain_budget or PRETRAIN)
    source_net, mean, pre = pretrained(root, setup, pretrain_budget, pretrain_per_class, seed,
                                       log)
    log("pretrained on %d source classes: val top-1 error %.1f%%"
        % (len(setup.source_classes), 100 * pre["val_top1_err"]))
    pool = setup.open("train", setup.target_classes, max(ks), mean=mean)
    test = setup.open("test", setup.target_classes, test_per_class, mean=mean)
    have = int(splits.counts(pool.labels, pool.num_classes).min())
    usable = [k for k in ks if k <= have]
    proto = protocol(setup, ks, n_splits, pretrain_budget, pretrain_per_class, steps,
                     batch_size, lr, test_per_class, seed)
    proto.update(k_run=usable, pool_per_class=have, test_images=len(test))
    store = Store(root + "/transfer", proto, log)
    for split in range(n_splits):
        for k in usable:
            train_ds = training_set(pool, k, seed, split)
            for arm in ARMS:
                store.run("k%d-split%d-%s" % (k, split, arm),
                          lambda: unit(arm, source_net, train_ds, test, k, split, steps,
                                       batch_size, lr, setup.device))
    return summarise(root)


def summarise(root):
    """The table of the units done so far under ``root/transfer`` (``results.json``, with the
    pretrained net's scores) and the curve; returns the rows (None where nothing was run)."""
    path = os.path.join(root, "transfer")
    proto, results = read(path)
    if proto is None:
        return None
    rows = table(results, proto["k_run"], 1.0 / len(proto["target_classes"]))
    write_json(os.path.join(path, "results.json"),
               {"protocol": proto, "pretrain": find_result(root, proto), "rows": rows})
    figures.transfer_curve(rows, os.path.join(path, "figures", "transfer.png"),
                           "transfer to %d target classes (%s), %d of %d splits done"
                           % (len(proto["target_classes"]), proto["data"],
                              max((r["splits"] for r in rows), default=0), proto["splits"]))
    return rows


def table(results, ks, chance):
    """One row per (arm, k): mean and spread of the accuracy over the splits done."""
    rows = []
    for arm in ARMS:
        for k in ks:
            accs = [r["accuracy"] for r in results.values() if r["k"] == k and r["arm"] == arm]
            m, s = mean_std(accs)
            rows.append(dict(arm=arm, k=k, splits=len(accs), accuracy=m, accuracy_std=s,
                             chance=chance))
    return rows
