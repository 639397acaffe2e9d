"""Top-1 / top-5 error of a net on a dataset, from one centre crop or from 10 crops (Z&F Sec. 3:
the 4 corners and the centre, and their horizontal flips, softmax outputs averaged).

    python -m zfcore.evaluate CHECKPOINT [--data SRC] [--split test] [--batch-size 128]
                              [--device auto]
"""
import numpy as np

from zfcore import cli
from zfcore.backend import to_device, to_numpy
from zfcore.layers.loss import softmax


def topk_errors(probs, labels, ks=(1, 5)):
    """{k: fraction of rows whose label is not among the k largest probs}."""
    order = np.argsort(-probs, axis=1)
    return {k: float(1.0 - (order[:, :k] == labels[:, None]).any(axis=1).mean()) for k in ks}


def predict(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """Softmax probabilities (N, C) over the dataset, in order; averaged over 10 crops if asked."""
    from zfcore.data import batches, ten_crop
    out = []
    if not ten_crops:
        for x, _ in batches(ds, batch_size, crop, train=False):
            out.append(to_numpy(softmax(net.forward(to_device(x, device), train=False))))
        return np.concatenate(out)
    for start in range(0, len(ds.labels), batch_size):
        idx = np.arange(start, min(start + batch_size, len(ds.labels)))
        x = ten_crop(ds.images[idx], ds.mean, crop)                 # (B*10, 3, crop, crop)
        p = to_numpy(softmax(net.forward(to_device(x, device), train=False)))
        out.append(p.reshape(len(idx), 10, -1).mean(axis=1))
    return np.concatenate(out)


def evaluate(net, ds, crop, batch_size=128, ten_crops=False, device="numpy"):
    """{'top1': error, 'top5': error} (top-5 is 0 when there are 5 classes or fewer)."""
    probs = predict(net, ds, crop, batch_size, ten_crops, device)
    errs = topk_errors(probs, np.asarray(ds.labels))
    return {"top1": errs[1], "top5": errs[5]}


def parse_args(argv):
    import argparse     # here, not at the top: the training library imports this module
    p = argparse.ArgumentParser(prog="python -m zfcore.evaluate",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint.h5 / best.h5 written by zfcore.train")
    p.add_argument("--data", default=None,
                   help="dataset source (default: the one the run trained on)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    return p.parse_args(argv)


def main(argv=None):
    from zfcore.checkpoint import load_checkpoint
    from zfcore.data import open_dataset
    args = parse_args(argv)
    if args.batch_size < 1:
        raise cli.UsageError("--batch-size must be at least 1, got %d" % args.batch_size)
    ck = load_checkpoint(args.checkpoint)
    device = cli.resolve_device(args.device)
    net = ck.net.to(device)
    source = args.data or ck.data
    ds = open_dataset(source, args.split, **ck.state.get("data_args", {}))
    ds.mean = ck.mean   # the training run's mean, whatever split this is
    if len(ds.class_names) != ck.spec["num_classes"]:
        raise cli.UsageError("--data %s has %d classes, the checkpoint's net %d"
                             % (source, len(ds.class_names), ck.spec["num_classes"]))
    crop = ck.spec["input"][1]
    for name, ten in (("centre crop", False), ("10 crops", True)):
        e = evaluate(net, ds, crop, args.batch_size, ten, device)
        print("%-11s  top-1 error %.2f%%  top-5 error %.2f%%  (%s, %s split, %d images)"
              % (name, 100 * e["top1"], 100 * e["top5"], source, args.split, len(ds.labels)))


if __name__ == "__main__":
    cli.run(main, prog="zfcore.evaluate")
