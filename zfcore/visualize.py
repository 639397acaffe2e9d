"""Look inside a trained net: ``python -m zfcore.visualize CHECKPOINT --data SRC --out DIR``.

Writes the figures of Zeiler & Fergus (top-9 projections, feature evolution, invariance, layer-1
filters, occlusion, correspondence) and the ground-truth scores on synthetic data into
``DIR/figures``, ``DIR/scores.json`` and ``DIR/report.html``. Two more forms compare the
AlexNet-style and the ZF-style first layers (Z&F Fig. 6):

    python -m zfcore.visualize compare CKPT_A CKPT_B --data SRC --out DIR
    python -m zfcore.visualize train-pair --data SRC --epochs E --out DIR [--seed S]

A CHECKPOINT may be a checkpoint file or its run folder; --device is auto, cpu or gpu. A user's
mistake (missing checkpoint, bad data source, bad argument, an output folder that cannot be
written) prints one line ``zfcore.visualize: error: ...`` and exits 2 (zfcore.cli).
"""
import argparse
import os
import shlex
import sys

import numpy as np

from zfcore import cli
from zfcore.vis.pipeline import WHAT

PROG = "zfcore.visualize"                 # the prefix of its messages
USAGE_PROG = "python -m zfcore.visualize"
UserError = cli.UsageError                # the older name


def _common(p, out_required=True):
    p.add_argument("--data", help="data source (default: the one the checkpoint trained on)")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--out", required=out_required, help="output folder")
    p.add_argument("--n-images", type=int, default=500, help="images to look through (default 500)")
    cli.add_device_argument(p)
    p.add_argument("--seed", type=int, help="seed of the synthetic images and of the maps shown "
                   "(default: the checkpoint's training seed)")


def parse(argv):
    if argv and argv[0] in ("compare", "train-pair"):
        p = cli.ArgumentParser(prog="%s %s" % (USAGE_PROG, argv[0]))
        if argv[0] == "compare":
            p.add_argument("checkpoints", nargs=2, metavar="CHECKPOINT",
                           help="two checkpoints (files or run folders)")
        else:
            p.add_argument("--epochs", type=int, required=True)
            p.add_argument("--archs", default="alexnet_small,zfnet_small")
            p.add_argument("--train-args", default="",
                           help="more options of python -m zfcore.train for both trainings, "
                           "e.g. \"--n-train 4000 --lr 0.003\" (one starting with -- needs "
                           "--train-args=...)")
        _common(p)
        args = p.parse_args(argv[1:])
        args.command = argv[0]
    else:
        p = cli.ArgumentParser(prog=USAGE_PROG, description=__doc__.replace("``", ""),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("checkpoint", help="a checkpoint file or its run folder")
        _common(p, out_required=False)
        p.add_argument("--atlas", metavar="OUT", help="also (or, without --out, only) write the "
                       "unit atlas into OUT: a static site with a page per unit, OUT/<layer>/"
                       "<NNN>.html; run again to finish an interrupted one")
        p.add_argument("--what", default=",".join(WHAT),
                       help="comma-separated subset of " + ",".join(WHAT))
        p.add_argument("--maps", type=int, default=16, help="feature maps per top-9 figure")
        p.add_argument("--occluder", type=int,
                       help="occluder side in pixels (default: a quarter of the input)")
        p.add_argument("--stride", type=int,
                       help="occluder stride (default: a sixteenth of the input)")
        p.add_argument("--n-score", type=int, default=50,
                       help="images for the ground-truth scores on synthetic data (default 50)")
        args = p.parse_args(argv)
        args.command = "visualize"
        if args.out is None and args.atlas is None:
            raise UserError("--out: required (or --atlas OUT for the unit atlas alone)")
        args.what = [w.strip() for w in args.what.split(",") if w.strip()]
        bad = [w for w in args.what if w not in WHAT]
        if bad or not args.what:
            raise UserError("--what: unknown %s (choose from %s)"
                            % (", ".join(bad) or "(empty)", ",".join(WHAT)))
    for opt in ("n_images", "maps", "occluder", "stride", "n_score"):
        v = getattr(args, opt, None)
        if v is not None and v < 1:
            raise UserError("--%s: must be at least 1, got %d" % (opt.replace("_", "-"), v))
    return args


def _load(path, device):
    from zfcore.checkpoint import load_checkpoint
    ck = load_checkpoint(cli.checkpoint_path(path))
    ck.net.to(device)
    return ck


def _sample(ck, args, xp):
    """The first --n-images images of the data set, stored at the size the net was trained on."""
    from zfcore.data import open_dataset
    from zfcore.vis.pipeline import Sample
    source = args.data or ck.data
    if not source:
        raise UserError("--data: the checkpoint does not say which data it trained on; name it")
    mean = np.asarray(ck.mean, dtype=np.float32)
    ds = open_dataset(source, args.split, size=mean.shape[0], seed=_seed(args, ck),
                      n=args.n_images)
    n = min(args.n_images, len(ds.labels))
    if n == 0:
        raise UserError("--data %s: the %s split has no images" % (source, args.split))
    crop = int(ck.spec["input"][1])
    if ds.images.shape[1] < crop:
        raise UserError("--data %s: images are %dx%d, smaller than the net's input %d"
                        % (source, ds.images.shape[1], ds.images.shape[1], crop))
    if tuple(mean.shape[:2]) != tuple(ds.images.shape[1:3]):
        raise UserError("--data %s: images of %dx%d do not match the checkpoint's mean image %dx%d"
                        % (source, ds.images.shape[1], ds.images.shape[2], mean.shape[0],
                           mean.shape[1]))
    boxes = None if ds.boxes is None else np.asarray(ds.boxes[:n])
    masks = None if ds.masks is None else np.asarray(ds.masks[:n])
    return Sample(np.asarray(ds.images[:n]), ds.labels[:n], mean, crop,
                  ck.class_names or ds.class_names,
                  boxes, masks, xp=xp)


def _seed(args, ck):
    return args.seed if args.seed is not None else int(getattr(ck, "state", {}).get("seed", 0) or 0)


class _Progress:
    """Names the step that is running (``step(name)`` is called as it starts). On a terminal a
    bar; otherwise (a log file) one plain line per step, no carriage returns."""

    def __init__(self, names, desc="visualize", stream=None):
        self.total, self.desc, self.done = len(names), desc, -1
        self.stream = stream or sys.stderr
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, desc=desc, unit="step", file=self.stream)

    def step(self, name):
        self.done += 1
        if self.bar is not None:
            if self.done:
                self.bar.update(1)
            self.bar.set_postfix_str(name)
        else:
            print("%s: step %d/%d: %s" % (self.desc, self.done + 1, self.total, name),
                  file=self.stream, flush=True)

    def close(self, finished):
        if self.bar is not None:
            if finished:
                self.bar.set_postfix_str("done")
                self.bar.update(self.total - self.bar.n)
            self.bar.close()


def run_visualize(args):
    """The report (and/or the atlas) of one checkpoint. Under ``mpiexec -n N`` the top-9 scan and
    the occlusion sweeps are split over the ranks (the same report as one process); rank 0
    writes and prints, the others stay quiet."""
    from zfcore import distributed
    from zfcore.backend import module_named
    from zfcore.vis.pipeline import visualize
    try:
        comm = distributed.world()
    except distributed.DistributedError as e:
        raise UserError(str(e)) from None
    if comm.rank != 0:
        sys.stdout = open(os.devnull, "w")
    if comm.size > 1 and args.device != "cpu":
        comm.pick_gpu()                   # one GPU per rank, before CuPy allocates anything
    device = cli.resolve_device(args.device)
    ck = _load(args.checkpoint, device)
    sample = _sample(ck, args, module_named(device))
    side = sample.inputs.hw[0]
    if args.occluder is not None and args.occluder > side:
        raise UserError("--occluder: %d pixels is larger than the net's %dx%d input"
                        % (args.occluder, side, side))
    if args.out is None:
        return _atlas(ck, sample, args, None) if comm.rank == 0 else None
    settings = dict(run_dir=ck.run_dir, n_maps=args.maps, occluder=args.occluder,
                    stride=args.stride, n_score=args.n_score, seed=_seed(args, ck),
                    title="zfcore: inside %s (%s, epoch %s)"
                    % (args.checkpoint, ck.spec.get("arch", "?"), ck.epoch), comm=comm)
    if comm.rank != 0:                    # its share of the scans; rank 0 writes the report
        visualize(ck.net, sample, args.out, args.what, **settings)
        return None
    os.makedirs(args.out, exist_ok=True)
    bar = _Progress([w for w in WHAT if w in args.what])
    finished = False
    try:
        with cli.writing(args.out):
            path, scores = visualize(ck.net, sample, args.out, args.what, progress=bar.step,
                                     **settings)
        finished = True
    finally:
        bar.close(finished)
    _print_scores(scores)
    print("wrote %s" % path)
    if args.atlas is not None:
        _atlas(ck, sample, args, path)


def _atlas(ck, sample, args, report):
    """The unit atlas (zfcore.vis.atlas) into --atlas; prints its size and time."""
    from zfcore.vis.atlas import build_atlas
    with cli.writing(args.atlas):
        r = build_atlas(ck.net, sample, args.atlas, run_dir=ck.run_dir, report=report,
                        occluder=args.occluder, stride=args.stride,
                        title="zfcore unit atlas: %s (%s, epoch %s)"
                        % (args.checkpoint, ck.spec.get("arch", "?"), ck.epoch),
                        log=lambda line: print("atlas: " + line, file=sys.stderr, flush=True))
    print("atlas: %d units (%d written, %d already there) in %.1f s, %.1f MB (%.1f MB on disk)"
          % (r["units"], r["written"], r["skipped"], r["seconds"], r["bytes"] / 1e6,
             r["disk_bytes"] / 1e6))
    print("wrote %s" % r["index"])


def _print_scores(scores):
    if "filters" in scores:
        f = scores["filters"]
        print("layer-1 dead filters: %.1f%%; layer-2 projection energy above Nyquist/2: %s"
              % (100 * f["dead_fraction"], "n/a" if f["layer2_high_freq_share"] is None
                 else "%.1f%%" % (100 * f["layer2_high_freq_share"])))
    if "occlusion_minimum_in_box" in scores:
        s = scores["occlusion_minimum_in_box"]
        print("occlusion minimum inside the object box: %.1f%% (random map %.1f%%, %d images)"
              % (100 * s["rate"], 100 * s["chance"], s["n"]))
        s = scores.get("occlusion_minimum_in_box_image_fill")
        if s is not None:
            print("  the same with a square of the image's mean colour: %.1f%%" % (100 * s["rate"]))
        s = scores["projection_energy_in_mask"]
        print("projection energy inside the object mask: %.1f%% (random map %.1f%%, %d images)"
              % (100 * s["share"], 100 * s["chance"], s["n"]))


def run_compare(args, checkpoints, names=None):
    from zfcore.backend import module_named
    from zfcore.vis.filters import compare_architectures
    from zfcore.vis.report import Report
    device = cli.resolve_device(args.device)
    cks = [_load(p, device) for p in checkpoints]
    names = names or ["%s (%s)" % (ck.spec.get("arch", "?"), os.path.basename(ck.run_dir))
                      for ck in cks]
    if len(set(names)) < len(names):
        names = ["%s #%d" % (n, k + 1) for k, n in enumerate(names)]
    xp = module_named(device)
    inputs = {name: _sample(ck, args, xp).inputs for name, ck in zip(names, cks)}
    path = os.path.join(args.out, "figures", "compare_layer1_layer2.png")
    with cli.writing(args.out):
        os.makedirs(os.path.join(args.out, "figures"), exist_ok=True)
        stats = compare_architectures({name: ck.net for name, ck in zip(names, cks)}, inputs,
                                      path, seed=_seed(args, cks[0]))
    report = Report("zfcore: layer-1 filters and layer-2 features of two architectures")
    report.figure(os.path.relpath(path, args.out),
                  "Each row one net: its layer-1 filters on one common scale (grey = 0), and the "
                  "projections of the strongest activation of 16 layer-2 feature maps over %d "
                  "images. "
                  "Dead filters: RMS below 5%% of the layer's largest. Aliasing: share of the "
                  "projections' spectral energy above half the Nyquist frequency." % args.n_images)
    rows = "".join("<tr><td>%s</td><td>%.1f%%</td><td>%.1f%%</td></tr>"
                   % (n, 100 * s["dead_fraction"], 100 * s["aliasing"]) for n, s in stats.items())
    report.html("<table><tr><th>net</th><th>dead layer-1 filters</th><th>layer-2 energy above "
                "Nyquist/2</th></tr>%s</table>" % rows)
    for n, s in stats.items():
        print("%s: dead layer-1 filters %.1f%%, layer-2 energy above Nyquist/2 %.1f%%"
              % (n, 100 * s["dead_fraction"], 100 * s["aliasing"]))
    with cli.writing(args.out):
        written = report.write(args.out)
    print("wrote %s" % written)


def train_pair(data, out_dir, epochs, seed=0, archs=("alexnet_small", "zfnet_small"), extra=()):
    """Train the AlexNet-style and the ZF-style net with the same data, epochs and seed, one
    after the other in this process, each into ``out_dir/<arch>``; ``extra`` is more options of
    ``python -m zfcore.train`` for both (e.g. ``["--n-train", "4000"]``), read by its own parser.
    Returns {arch: checkpoint path}. Raises RuntimeError naming the architecture whose training
    failed, and why."""
    from zfcore import train as training
    paths = {}
    for arch in archs:
        run = os.path.join(out_dir, arch)
        argv = ["--arch", arch, "--data", str(data), "--epochs", str(epochs), "--out", run,
                "--seed", str(seed)] + list(extra)
        try:
            args = training.parse_args(argv)
            training.check_args(args)
            training.train(args)
        except cli.user_errors() as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise RuntimeError("training %s failed: %s" % (arch, why)) from None
        paths[arch] = os.path.join(run, "checkpoint.h5")
    return paths


def run_train_pair(args):
    if not args.data:
        raise UserError("--data: name the data source to train both nets on")
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    try:
        paths = train_pair(args.data, args.out, args.epochs, args.seed or 0, archs,
                           shlex.split(args.train_args))
    except RuntimeError as e:
        raise UserError(str(e))
    run_compare(args, [paths[a] for a in archs], names=archs)


def run(argv=None):
    """Run one form of the command; a user's mistake raises (``cli.user_errors()`` or an
    OSError), which ``cli.run`` prints as one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.command == "compare":
        run_compare(args, args.checkpoints)
    elif args.command == "train-pair":
        run_train_pair(args)
    else:
        run_visualize(args)


def main(argv=None):
    """The command through the shared layer (``cli.run``): returns its exit status, 0, or 2 / 130
    / 141 after one line ``zfcore.visualize: ...`` on stderr. A bug raises. Under mpiexec a rank
    that stops with an error ends the whole job (``distributed.exit_world``), so no rank waits
    for it in a scan."""
    from zfcore import distributed
    try:
        cli.run(run, argv, prog=PROG)
    except SystemExit as e:
        if e.code:
            distributed.exit_world(e.code)
        return e.code
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        distributed.exit_world(1)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
