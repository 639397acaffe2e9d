"""What a full-size analysis costs on this CPU: one 224 x 224 photo through a ZFNet (Z&F Fig. 3),
ours next to PyTorch with the same weights.

    python bench/photo_analysis.py [--photo DIR_OR_FILE] [--size 32] [--stride 16] [--repeat 3]

Three figures, each the median of ``--repeat`` runs after one warm-up:
  forward     one image, ``train=False``, to the class scores;
  projection  the deconvnet projection (Sec. 2.1) of conv5's strongest map of that image down to
              pixels; the peer is PyTorch's autograd from conv5 with the deconvnet's rules put in
              (a ReLU passes max(r, 0) down, LRN is skipped; max-pool's gradient is the unpool
              with switches, a conv's is the transposed filters);
  occlusion   the sweep of Sec. 4.2 / Fig. 7: a ``--size`` grey square at every ``--stride``
              (2,401 positions at the paper-like 32 / 4; the default 16 gives 13 x 13 = 169), the
              probability of the true class at each; the peer is a batched forward loop.
Correctness first: the class scores, the projection and the occlusion map of both are compared
(relative error) before anything is timed. The net is randomly initialised (He), which costs the
same as a trained one. The limit is PyTorch measured in the same run (ratio = ours / torch).
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # what `import zfcore` sets (zfcore/__init__)
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from peers import torch_model  # noqa: E402
from zfcore.data import open_dataset  # noqa: E402
from zfcore.data.crops import centre_crop  # noqa: E402
from zfcore.recipe import recipe  # noqa: E402
from zfcore.vis.occlude import occlusion  # noqa: E402

PHOTOS = os.path.join(HERE, "..", "..", "shared", "data", "imagenet-sample")


def load_photo(path):
    """(1, 3, 224, 224) mean-subtracted crop of one photo, the label and the class count: a
    folder of class folders (the Afghan hound if there is one, else its first image) or one file
    (mean of its own pixels, one class)."""
    if os.path.isdir(path):
        ds = open_dataset(path, "train")
        names = ds.class_names
        k = next((i for i, c in enumerate(names) if "Afghan" in c), 0)
        row = int(np.flatnonzero(ds.labels == k)[0])
        return centre_crop(ds.images[row:row + 1], ds.mean, 224), k, len(names), names[k]
    from zfcore.data.folder import decode
    img = decode(path, 256)[None]
    return centre_crop(img, img[0].mean(axis=(0, 1)), 224), 0, 1, os.path.basename(path)


def timed(fn, repeat):
    fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def rel_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# -- the PyTorch peer -----------------------------------------------------------------------
def deconv_twin(model):
    """The twin with the deconvnet's backward rules: ReLU passes max(r, 0), LRN passes r."""
    import torch
    from torch import nn

    class DeconvReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clamp_min(0)

        @staticmethod
        def backward(ctx, r):
            return r.clamp_min(0)

    class Skip(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lrn):
            return lrn(x)

        @staticmethod
        def backward(ctx, r):
            return r, None

    class Wrap(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            if isinstance(self.m, nn.ReLU):
                return DeconvReLU.apply(x)
            if isinstance(self.m, nn.LocalResponseNorm):
                return Skip.apply(x, self.m)
            return self.m(x)

    return nn.Sequential(*[Wrap(m) for m in model])


def torch_projection(twin, x, upto, channel):
    """Autograd from layer ``upto`` (an index into the twin) of map ``channel``'s strongest
    activation down to the pixels."""
    import torch
    xt = torch.from_numpy(x).requires_grad_(True)
    a = twin[:upto + 1](xt)
    keep = torch.zeros_like(a)
    flat = a[0, channel].reshape(-1)
    k = int(flat.argmax())
    keep[0, channel].view(-1)[k] = flat[k].detach()
    a.backward(keep)
    return xt.grad.numpy()


def torch_occlusion(model, x, label, size, stride, chunk=64):
    import torch
    _, h, w = x.shape
    corners = [(i, j) for i in range(0, h - size + 1, stride)
               for j in range(0, w - size + 1, stride)]
    logp = []
    with torch.no_grad():
        for s in range(0, len(corners), chunk):
            batch = corners[s:s + chunk]
            xb = np.repeat(x[None], len(batch), axis=0)
            for b, (y0, x0) in enumerate(batch):
                xb[b, :, y0:y0 + size, x0:x0 + size] = 0.0
            out = torch.log_softmax(model(torch.from_numpy(xb)), dim=1)
            logp.append(out[:, label].numpy())
    n = (h - size) // stride + 1
    return np.concatenate(logp).reshape(n, -1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", default=PHOTOS, help="a folder of class folders or one image "
                    "(default ../shared/data/imagenet-sample)")
    ap.add_argument("--size", type=int, default=32, help="occluder side (default 32)")
    ap.add_argument("--stride", type=int, default=16, help="occluder stride (default 16)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: the "
                    "CPU count, as NumPy's BLAS)")
    args = ap.parse_args(argv)
    if not os.path.exists(args.photo):
        sys.exit("photo_analysis: no %s; pass --photo" % args.photo)
    import torch
    torch.set_num_threads(args.threads or os.cpu_count())
    x, label, n_classes, name = load_photo(args.photo)
    net = recipe("zfnet", num_classes=n_classes, init="he").build(seed=0)
    model = torch_model(net).eval()          # (the ZFNet's input scale is 1: nothing folded)
    twin = deconv_twin(model)
    names = list(net.layers)
    upto = names.index("conv5")

    # correctness first
    ours_logits = net.forward(x)
    with torch.no_grad():
        theirs_logits = model(torch.from_numpy(x)).numpy()
    a = net.forward(x, keep=["conv5"])["conv5"][0]
    channel = int(a.reshape(a.shape[0], -1).max(axis=1).argmax())
    ours_proj = net.project(x, "conv5", channel)
    theirs_proj = torch_projection(twin, x, upto, channel)
    ours_occ = occlusion(net, x[0], label, args.size, args.stride)["logp"]
    theirs_occ = torch_occlusion(model, x[0], label, args.size, args.stride)
    checks = [("class scores", rel_error(ours_logits, theirs_logits)),
              ("conv5 projection", rel_error(ours_proj, theirs_proj)),
              ("occlusion log p(true class)", rel_error(ours_occ, theirs_occ))]
    print("photo: %s (224 x 224 centre crop); ZFNet, %d classes, He init" % (name, n_classes))
    for what, err in checks:
        print("check %-28s max rel error %.2e  %s" % (what, err, "ok" if err < 1e-3 else "FAILED"))
    if any(err >= 1e-3 for _, err in checks):
        sys.exit(1)

    n_pos = ours_occ.size
    rows = [
        ("forward, 1 image", timed(lambda: net.forward(x), args.repeat),
         timed(lambda: model(torch.from_numpy(x)), args.repeat)),
        ("projection from conv5", timed(lambda: net.project(x, "conv5", channel), args.repeat),
         timed(lambda: torch_projection(twin, x, upto, channel), args.repeat)),
        ("occlusion, %d px / %d: %d positions" % (args.size, args.stride, n_pos),
         timed(lambda: occlusion(net, x[0], label, args.size, args.stride), args.repeat),
         timed(lambda: torch_occlusion(model, x[0], label, args.size, args.stride),
               args.repeat)),
    ]
    print("load average %s; %d CPU(s); torch %s on %d threads"
          % (" ".join(open("/proc/loadavg").read().split()[:3]), os.cpu_count(),
             torch.__version__, torch.get_num_threads()))
    print("| what | ours (s) | PyTorch (s) | ours / PyTorch |")
    print("|---|---:|---:|---:|")
    for what, ours, theirs in rows:
        print("| %s | %.3f | %.3f | %.2fx |" % (what, ours, theirs, ours / theirs))
    print("limit: PyTorch on the same CPU in the same run (a ratio <= 1.0 is at or ahead of it)")


if __name__ == "__main__":
    main()
