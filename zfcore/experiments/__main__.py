"""The experiments of Z&F Sec. 5 from the command line.

    python -m zfcore.experiments ablation      # Table 3: variants trained from scratch
    python -m zfcore.experiments transfer      # Fig. 9: retrained softmax vs from scratch, by k
    python -m zfcore.experiments probes        # Table 7: a linear probe per layer
    python -m zfcore.experiments all           # the three, then the report
    python -m zfcore.experiments report        # runs/experiments/report.html from what is there

Every result is a unit of work written when done, so a command run again goes on where it
stopped and skips what is done; each command ends by rewriting the report.
"""
import argparse

from zfcore import cli
from zfcore.experiments import ablation, probes, report, transfer
from zfcore.experiments.config import DEFAULT_ARCH, DEFAULT_WIDTH, Setup
from zfcore.experiments.probes import MissingExtra
from zfcore.experiments.specs import DEFAULT_VARIANTS, VARIANTS, SpecError
from zfcore.experiments.store import ProtocolError
from zfcore.models import SPECS

DEFAULT_OUT = "runs/experiments"


def _ints(text):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers, got %r" % text)


def _names(text):
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m zfcore.experiments",
                           description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=cli.ArgumentParser)
    common = cli.ArgumentParser(add_help=False)
    common.add_argument("--out", default=DEFAULT_OUT,
                        help="results folder (default %s)" % DEFAULT_OUT)
    common.add_argument("--data", default="synthetic",
                        help="synthetic | CIFAR-10 folder | image folder | .h5 (default synthetic)")
    common.add_argument("--arch", default=DEFAULT_ARCH, choices=sorted(SPECS),
                        help="base architecture (default %s)" % DEFAULT_ARCH)
    common.add_argument("--width", type=float, default=DEFAULT_WIDTH,
                        help="every hidden layer's width times this (default %g)"
                        % DEFAULT_WIDTH)
    common.add_argument("--source-classes", type=_names, default=None, metavar="A,B,...",
                        help="classes to pretrain on (default: the first half)")
    common.add_argument("--target-classes", type=_names, default=None, metavar="A,B,...",
                        help="classes to transfer to (default: the others)")
    cli.add_device_argument(common)

    pre = cli.ArgumentParser(add_help=False)
    pre.add_argument("--pretrain-epochs", type=int, default=transfer.PRETRAIN["epochs"],
                     help="epochs of the pretraining on the source classes (default %d)"
                     % transfer.PRETRAIN["epochs"])
    pre.add_argument("--pretrain-per-class", type=int, default=transfer.PRETRAIN_PER_CLASS,
                     help="source training images per class (default %d)"
                     % transfer.PRETRAIN_PER_CLASS)
    pre.add_argument("--test-per-class", type=int, default=transfer.TEST_PER_CLASS,
                     help="target test images per class (default %d)" % transfer.TEST_PER_CLASS)
    pre.add_argument("--seed", type=int, default=0, help="the pretraining's seed (default 0)")

    a = sub.add_parser("ablation", parents=[common], help="Table 3: layers removed or resized")
    a.add_argument("--variants", type=_names, default=list(DEFAULT_VARIANTS),
                   help="comma-separated, of: %s (default: all but conv-wide-fc-x2)"
                   % ", ".join(VARIANTS))
    a.add_argument("--seeds", type=_ints, default=list(ablation.SEEDS),
                   help="default %s" % ",".join(map(str, ablation.SEEDS)))
    a.add_argument("--epochs", type=int, default=ablation.BUDGET["epochs"],
                   help="default %d" % ablation.BUDGET["epochs"])
    a.add_argument("--per-class", type=int, default=ablation.PER_CLASS,
                   help="training images per class (default %d)" % ablation.PER_CLASS)
    a.add_argument("--val-per-class", type=int, default=ablation.VAL_PER_CLASS,
                   help="validation images per class (default %d)" % ablation.VAL_PER_CLASS)
    a.add_argument("--classes", choices=("source", "all"), default="source",
                   help="train the variants on the source classes or on all (default source)")

    t = sub.add_parser("transfer", parents=[common, pre],
                       help="Fig. 9: softmax retrained on k images a class vs from scratch")
    t.add_argument("--k", type=_ints, default=list(transfer.KS),
                   help="images per class (default %s)" % ",".join(map(str, transfer.KS)))
    t.add_argument("--splits", type=int, default=transfer.SPLITS,
                   help="random splits (default %d)" % transfer.SPLITS)
    t.add_argument("--steps", type=int, default=transfer.STEPS,
                   help="SGD steps of each k-image run (default %d)" % transfer.STEPS)

    q = sub.add_parser("probes", parents=[common, pre], help="Table 7: a linear probe per layer")
    q.add_argument("--k", type=int, default=probes.K,
                   help="training images per class (default %d)" % probes.K)
    q.add_argument("--splits", type=int, default=probes.SPLITS,
                   help="random splits (default %d)" % probes.SPLITS)
    q.add_argument("--at", choices=("relu", "pool"), default=probes.AT,
                   help="features after each layer's ReLU, or after its pool where there is "
                   "one (default %s)" % probes.AT)

    sub.add_parser("all", parents=[common, pre],
                   help="ablation, transfer and probes with their defaults, then the report")
    r = sub.add_parser("report", help="write OUT/report.html from the results there")
    r.add_argument("--out", default=DEFAULT_OUT, help="results folder (default %s)" % DEFAULT_OUT)
    return p.parse_args(argv)


def check_args(args):
    for name in ("epochs", "per_class", "val_per_class", "splits", "steps", "pretrain_epochs",
                 "pretrain_per_class", "test_per_class"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise cli.UsageError("--%s must be positive, got %d" % (name.replace("_", "-"), v))
    ks = getattr(args, "k", None)
    if ks is not None and min(ks if isinstance(ks, list) else [ks] or [0]) < 1:
        raise cli.UsageError("--k must be positive, got %s" % ks)
    if getattr(args, "width", 1) <= 0:
        raise cli.UsageError("--width must be positive, got %g" % args.width)
    for v in getattr(args, "variants", []) or []:
        if v not in VARIANTS:
            raise cli.UsageError("--variants: unknown %r (known: %s)" % (v, ", ".join(VARIANTS)))


def print_rows(title, header, rows):
    print(title)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  " + "  ".join(str(x).rjust(w) for x, w in zip(row, widths)))


def run_ablation(args, setup):
    kw = dict(variants=args.variants, seeds=args.seeds, per_class=args.per_class,
              val_per_class=args.val_per_class, classes=args.classes,
              budget=dict(ablation.BUDGET, epochs=args.epochs)) if args.command == "ablation" \
        else {}
    rows = ablation.run(args.out, setup, **kw)
    print_rows("ablation (error %, mean ± std over seeds):",
               ["variant", "params", "seeds", "train top-1", "val top-1", "val top-5"],
               [[r["variant"], r["params"], r["seeds"],
                 report.pct(r["train_top1_err"], r["train_top1_err_std"]),
                 report.pct(r["val_top1_err"], r["val_top1_err_std"]),
                 report.pct(r["val_top5_err"], r["val_top5_err_std"])] for r in rows])


def _pretrain_kw(args):
    return dict(pretrain_budget=dict(transfer.PRETRAIN, epochs=args.pretrain_epochs),
                pretrain_per_class=args.pretrain_per_class, test_per_class=args.test_per_class,
                seed=args.seed)


def run_transfer(args, setup):
    kw = _pretrain_kw(args)
    if args.command == "transfer":
        kw.update(ks=args.k, n_splits=args.splits, steps=args.steps)
    rows = transfer.run(args.out, setup, **kw)
    print_rows("transfer (mean per-class accuracy %, mean ± std over splits):",
               ["arm", "k", "splits", "accuracy"],
               [[r["arm"], r["k"], r["splits"], report.pct(r["accuracy"], r["accuracy_std"])]
                for r in rows])


def run_probes(args, setup):
    kw = _pretrain_kw(args)
    if args.command == "probes":
        kw.update(k=args.k, n_splits=args.splits, at=args.at)
    rows = probes.run(args.out, setup, **kw)
    print_rows("probes (mean per-class accuracy %, mean ± std over splits):",
               ["layer", "output of", "classifier", "accuracy"],
               [[r["layer"], r["name"], r["classifier"],
                 report.pct(r["accuracy"], r["accuracy_std"])] for r in rows])


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    try:
        if args.command != "report":
            setup = Setup(data=args.data, arch=args.arch, width=args.width,
                          source_classes=args.source_classes or [],
                          target_classes=args.target_classes or [],
                          device=cli.resolve_device(args.device))
            with cli.writing(args.out):
                for name, step in (("ablation", run_ablation), ("transfer", run_transfer),
                                   ("probes", run_probes)):
                    if args.command in (name, "all"):
                        step(args, setup)
        with cli.writing(args.out):
            path = report.write(args.out)
    except (ProtocolError, MissingExtra, SpecError) as e:
        raise cli.UsageError(str(e)) from None
    if path is None:
        raise cli.UsageError("%s: no experiment results to report (run ablation, transfer or "
                             "probes first)" % args.out)
    print("wrote %s" % path)
    for f in report.findings(report.load(args.out)):
        print("- " + f)
    return 0


if __name__ == "__main__":
    cli.run(main, prog="zfcore.experiments")
