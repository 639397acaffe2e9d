"""Train the 32x32 small ZF net on real images, ours and PyTorch's side by side.

    python bench/train_real.py [--data ../shared/data/cifar-10-batches-py] [--epochs 5]
    python bench/train_real.py --data synthetic --epochs 1 --n-train 512 --no-torch   # smoke

Ours is the command line's run: the net from ``zfcore.recipe`` (He init, inputs scaled by 1/64,
no dropout) trained by ``zfcore.train.fit`` (Z&F Sec. 3: v = 0.9 v - lr (g + wd w); w += v;
conv filters renormalised to RMS 0.1; lr x0.1 when the validation error plateaus). Then the
PyTorch twin (``torch.nn.Sequential`` holding copies of the same initial weights, inputs scaled
the same) takes the same update, written out by hand, over the same batches in the same order
(``zfcore.data.batches``: random crops of the padded image and flips), with the lr ours had in
each epoch. Reports test accuracy (centre crop) and training images/s of each; the bar is
|ours - torch| <= 1.5 points. Without PyTorch only ours runs.
"""
import argparse
import os
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from zfcore.data import batches, open_dataset  # noqa: E402
from zfcore.evaluation import evaluate  # noqa: E402
from zfcore.recipe import recipe  # noqa: E402
from zfcore.train import Callback, fit  # noqa: E402

CANDIDATES = ["cifar-10-batches-py", "cifar10/cifar-10-batches-py", "cifar-10", "fashion-mnist",
              "fashion_mnist", "fashionmnist"]


def find_data():
    root = os.path.join(HERE, "..", "..", "shared", "data")
    for name in CANDIDATES:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return os.path.normpath(path)
    return None


def torch_update(model, velocity, lr, momentum, wd, max_rms=0.1):
    """The update of zfcore.optim.SGD, in PyTorch."""
    import torch
    with torch.no_grad():
        for m in model:
            if not hasattr(m, "weight"):
                continue
            for name, p in (("W", m.weight), ("b", m.bias)):
                key = (id(m), name)
                v = velocity.setdefault(key, torch.zeros_like(p))
                g = p.grad + wd * p if name == "W" else p.grad
                v.mul_(momentum).sub_(lr * g)
                p.add_(v)
                if name == "W" and p.dim() == 4:
                    rms = p.pow(2).mean(dim=(1, 2, 3)).sqrt()
                    scale = torch.where(rms > max_rms, max_rms / rms.clamp_min(1e-30),
                                        torch.ones_like(rms))
                    p.mul_(scale.view(-1, 1, 1, 1))
                p.grad = None


def torch_accuracy(model, ds, crop, batch_size, scale):
    import torch
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in batches(ds, batch_size, crop, train=False):
            correct += int((model(torch.from_numpy(x * scale)).argmax(1).numpy() == y).sum())
    return correct / len(ds.labels)


def unfold_input_scale(model, net):
    """peers.torch_model folds ``input_scale`` into the first conv's weights: the same function,
    but not the same training (the gradient of the folded weights is 1/scale times ours, and
    weight decay and the RMS cap act on other values). Here the twin keeps our weights and is
    fed the scaled inputs instead, as our net scales them."""
    import torch
    first = next(m for m in model if hasattr(m, "weight"))
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(np.asarray(net.params()["conv1.W"])))


class EpochLog(Callback):
    """Ours, after each epoch: the fit's metrics row plus the test accuracy (centre crop)."""

    def __init__(self, test, crop):
        self.test, self.crop, self.rows = test, crop, []

    def on_epoch_end(self, trainer, row):
        acc = 1 - evaluate(trainer.net, self.test, self.crop, 256, device=trainer.device)["top1"]
        self.rows.append(dict(row, test_acc=acc))
        print("epoch %d  ours: test acc %.2f%%  %.0f img/s  (lr %g)"
              % (row["epoch"], 100 * acc, row["images_per_s"], row["lr"]), flush=True)


def train_torch(model, train, test, crop, scale, lrs, args, momentum, weight_decay, max_rms):
    """The twin over the batches ours saw, epoch e with lr ``lrs[e]``; returns [(test acc,
    images/s)] per epoch."""
    import torch
    velocity, out = {}, []
    for epoch, lr in enumerate(lrs):
        t, seen = time.perf_counter(), 0
        model.train()
        for x, y in batches(train, args.batch_size, crop, train=True, seed=args.seed, epoch=epoch):
            logits = model(torch.from_numpy(x * scale))
            torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
            torch_update(model, velocity, lr, momentum, weight_decay, max_rms)
            seen += len(y)
        speed = seen / (time.perf_counter() - t)
        out.append((torch_accuracy(model, test, crop, 256, scale), speed))
        print("epoch %d  torch: test acc %.2f%%  %.0f img/s" % (epoch + 1, 100 * out[-1][0], speed),
              flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="CIFAR-10 python folder, Fashion-MNIST idx "
                    "folder or synthetic (default: the first found in ../shared/data)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=None, help="initial lr (default: the recipe's)")
    ap.add_argument("--weight-decay", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--n-train", type=int, default=None, help="train on the first N images only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    data = args.data or find_data()
    if data is None:
        sys.exit("train_real: no CIFAR-10 or Fashion-MNIST folder in ../shared/data; pass --data")
    kw = {"seed": args.seed}
    if data == "synthetic":
        kw["size"] = 32
    train = open_dataset(data, "train", n=args.n_train, **kw)
    val = open_dataset(data, "val", **kw)
    test = open_dataset(data, "test", **kw)
    test.mean = train.mean
    rec = recipe("zfnet_small32", len(train.class_names), input_channels=3)
    net = rec.build(seed=args.seed)
    crop, scale = rec.spec["input"][1], np.float32(rec.input_scale)
    hp = dict(rec.training, batch_size=args.batch_size)
    for key in ("lr", "weight_decay"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)

    model = None
    if not args.no_torch:
        try:
            import torch
            from peers import torch_model
            torch.manual_seed(args.seed)
            torch.set_num_threads(os.cpu_count())
            model = torch_model(net)          # copies of the initial weights, before ours train
            unfold_input_scale(model, net)
        except ImportError:
            print("PyTorch not importable: ours only")
    print("data %s: %d train, %d val, %d test images, %d classes; zfnet_small32 (init %s, input "
          "scale %g, dropout %g), %d epochs, batch %d, lr %g, weight decay %g"
          % (data, len(train.labels), len(val.labels), len(test.labels), len(train.class_names),
             rec.init, rec.input_scale, rec.dropout, args.epochs, hp["batch_size"], hp["lr"],
             hp["weight_decay"]))
    log = EpochLog(test, crop)
    fit(net, train, val, epochs=args.epochs, batch_size=hp["batch_size"], lr=hp["lr"],
        momentum=hp["momentum"], weight_decay=hp["weight_decay"],
        max_filter_rms=hp["max_filter_rms"], patience=hp["patience"], seed=args.seed,
        callbacks=[log])
    acc = log.rows[-1]["test_acc"]
    speed = sum(len(train.labels) for _ in log.rows) / sum(r["seconds"] for r in log.rows)
    if model is not None:
        theirs = train_torch(model, train, test, crop, scale, [r["lr"] for r in log.rows], args,
                             hp["momentum"], hp["weight_decay"], hp["max_filter_rms"])
        acc_t = theirs[-1][0]
        speed_t = len(theirs) / sum(1 / s for _, s in theirs)
        gap = 100 * (acc - acc_t)
        print("| data | epochs | ours acc | torch acc | gap (points) | ours img/s | torch img/s |")
        print("|---|---|---|---|---|---|---|")
        print("| %s | %d | %.2f%% | %.2f%% | %+.2f | %.0f | %.0f |"
              % (os.path.basename(data), args.epochs, 100 * acc, 100 * acc_t, gap, speed,
                 speed_t))
        print("bar |gap| <= 1.5 points: %s" % ("met" if abs(gap) <= 1.5 else "NOT met"))
    else:
        print("ours: test acc %.2f%%, %.0f img/s" % (100 * acc, speed))


if __name__ == "__main__":
    main()
