"""Top-1 / top-5 error of a net on a dataset, from one centre crop or from 10 crops (Z&F Sec. 3:
the 4 corners and the centre, and their horizontal flips, softmax outputs averaged). The
command line over ``zfcore.evaluation``:

    python -m zfcore.evaluate CHECKPOINT|RUN_FOLDER [--data SRC] [--split test]
                              [--batch-size 128] [--device auto|cpu|gpu]

Memory is bounded by one batch (``--batch-size`` crops at a time), not by the dataset.
"""
from zfcore import cli
from zfcore.evaluation import evaluate, predict, topk_errors

__all__ = ["evaluate", "predict", "topk_errors", "main"]


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m zfcore.evaluate",
                           description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint.h5 / best.h5 written by zfcore.train, or "
                   "its run folder (its checkpoint.h5)")
    p.add_argument("--data", default=None,
                   help="dataset source (default: the one the run trained on)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch-size", type=int, default=128,
                   help="images (10-crop test: crops) per forward pass (default 128)")
    cli.add_device_argument(p)
    return p.parse_args(argv)


def main(argv=None):
    from zfcore.checkpoint import load_checkpoint
    from zfcore.data import open_dataset
    args = parse_args(argv)
    if args.batch_size < 1:
        raise cli.UsageError("--batch-size must be at least 1, got %d" % args.batch_size)
    ck = load_checkpoint(cli.checkpoint_path(args.checkpoint))
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
