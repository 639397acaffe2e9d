"""The paper's analyses at full size on the GPU, ours next to PyTorch on the same device with the
same weights (a ZFNet, Z&F Fig. 3, 1000 classes, He init: a trained net costs the same).

    python bench/gpu_analyses.py [--images 10000] [--repeat 3]

  top-9 scan   conv5 over ``--images`` 224 x 224 inputs, batches of 128: the 9 images whose
               strongest activation is largest, per map (zfcore.vis.topk.top_activations); the
               peer: a forward loop to conv5, the per-image maxima and a running torch.topk;
  projection   the deconvnet projection (Sec. 2.1) of 128 images from pool5, one map, each
               image's strongest activation (Net.project); the peer: autograd through the twin
               with the deconvnet's rules (bench/photo_analysis.deconv_twin);
  occlusion    one 224 image, a 32 px grey square at stride 4: 49 x 49 = 2,401 positions
               (zfcore.vis.occlusion); the peer: a batched forward loop, 64 at a time.
Correctness first (the top-9 values, the projection, the occlusion log-probabilities against
the peer's), then the median of ``--repeat`` timed runs after one warm-up, each ended by a
device synchronisation. TF32 off on both sides. The bar: faster than PyTorch (ratio < 1).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from peers import import_torch, torch_model  # noqa: E402
from photo_analysis import deconv_twin  # noqa: E402
from zfcore.backend import cupy_or_none, cupy_unusable_reason  # noqa: E402
from zfcore.recipe import recipe  # noqa: E402
from zfcore.vis.occlude import occlusion  # noqa: E402
from zfcore.vis.probe import Inputs  # noqa: E402
from zfcore.vis.topk import top_activations  # noqa: E402

BATCH = 128


def rel_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not np.isfinite(a).all():
        return float("inf")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def timed(fn, repeat, sync):
    fn()
    sync()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


# -- the PyTorch peers, on the device -------------------------------------------------------------
def torch_top9(torch, model, upto, x, k=9):
    """Per map of layer ``upto``: the k largest per-image maxima and their image indices."""
    best_v = best_i = None
    with torch.no_grad():
        for s in range(0, x.shape[0], BATCH):
            a = model[:upto + 1](x[s:s + BATCH]).amax(dim=(2, 3))          # (B, C)
            idx = torch.arange(s, s + a.shape[0], device=a.device).expand(a.shape[1], -1)
            v, i = a.t(), idx
            if best_v is not None:
                v, i = torch.cat([best_v, v], 1), torch.cat([best_i, i], 1)
            top = torch.topk(v, min(k, v.shape[1]), dim=1)
            best_v, best_i = top.values, torch.gather(i, 1, top.indices)
    return best_v, best_i


def torch_projection(torch, twin, upto, x, channel):
    xg = x.detach().clone().requires_grad_(True)
    a = twin[:upto + 1](xg)
    flat = a[:, channel].reshape(a.shape[0], -1)
    k = flat.argmax(dim=1)
    one = torch.zeros_like(flat).scatter_(1, k[:, None], flat.gather(1, k[:, None]).detach())
    keep = torch.zeros_like(a)
    keep[:, channel] = one.reshape(a[:, channel].shape)
    a.backward(keep)
    return xg.grad


def torch_occlusion(torch, model, x, label, size, stride, chunk=64):
    _, h, w = x.shape
    corners = [(i, j) for i in range(0, h - size + 1, stride) for j in range(0, w - size + 1,
                                                                           stride)]
    out = []
    with torch.no_grad():
        for s in range(0, len(corners), chunk):
            batch = corners[s:s + chunk]
            xb = x[None].repeat(len(batch), 1, 1, 1)
            for b, (y0, x0) in enumerate(batch):
                xb[b, :, y0:y0 + size, x0:x0 + size] = 0.0
            out.append(torch.log_softmax(model(xb), dim=1)[:, label])
    n = (h - size) // stride + 1
    return torch.cat(out).reshape(n, -1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    cp = cupy_or_none()
    if cp is None:
        sys.exit("bench/gpu_analyses.py: CuPy is unusable (%s)" % cupy_unusable_reason())
    torch = import_torch()
    if torch is None:
        sys.exit("bench/gpu_analyses.py: needs PyTorch with CUDA for the peer")

    def sync():
        cp.cuda.Device().synchronize()
        torch.cuda.synchronize()

    net = recipe("zfnet", num_classes=1000, init="he").build(seed=0)
    model = torch_model(net).cuda().eval()
    twin = deconv_twin(model)
    net.to("cupy")
    names = list(net.layers)
    conv5, pool5 = names.index("conv5"), names.index("pool5")
    x = cp.random.RandomState(0).standard_normal((args.images, 3, 224, 224), dtype=np.float32)
    x *= np.float32(50)
    xt = torch.as_tensor(x, device="cuda")
    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    print("ZFNet on %s, %d images 224x224 on the device; torch %s"
          % (name.decode() if isinstance(name, bytes) else name, args.images, torch.__version__))

    # correctness first
    checks = []
    top = top_activations(net, Inputs(x), ["conv5"], k=9, batch_size=BATCH)["conv5"]
    tv, ti = torch_top9(torch, model, conv5, xt)
    checks.append(("top-9 values, conv5", rel_error(top.values, tv.cpu().numpy())))
    same = float((top.image == ti.cpu().numpy()).mean())
    checks.append(("top-9 images, conv5 (1 - fraction equal)", 1.0 - same))
    x128, xt128 = x[:BATCH], xt[:BATCH]
    a = net.forward(x128, keep=["pool5"])["pool5"]
    channel = int(a.reshape(BATCH, a.shape[1], -1).max(axis=2).sum(axis=0).argmax())
    proj = net.project(x128, "pool5", channel)
    checks.append(("projection from pool5, 128 images",
                   rel_error(proj.get(), torch_projection(torch, twin, pool5, xt128, channel)
                             .cpu().numpy())))
    occ = occlusion(net, x[0], 7, 32, 4)["logp"]
    checks.append(("occlusion log p, 2,401 positions",
                   rel_error(occ, torch_occlusion(torch, model, xt[0], 7, 32, 4).cpu().numpy())))
    failed = False
    for what, err in checks:
        ok = err < 1e-3
        failed |= not ok
        print("check %-44s %.2e  %s" % (what, err, "ok" if ok else "FAILED"))
    if failed:
        sys.exit(1)

    rows = [
        ("top-9 scan, conv5, %d images" % args.images,
         timed(lambda: top_activations(net, Inputs(x), ["conv5"], k=9, batch_size=BATCH),
               args.repeat, sync),
         timed(lambda: torch_top9(torch, model, conv5, xt), args.repeat, sync)),
        ("projection from pool5, 128 images",
         timed(lambda: net.project(x128, "pool5", channel), args.repeat, sync),
         timed(lambda: torch_projection(torch, twin, pool5, xt128, channel), args.repeat, sync)),
        ("occlusion 32 px / 4, 2,401 positions",
         timed(lambda: occlusion(net, x[0], 7, 32, 4), args.repeat, sync),
         timed(lambda: torch_occlusion(torch, model, xt[0], 7, 32, 4), args.repeat, sync)),
    ]
    print("| what | ours (ms) | PyTorch (ms) | ours / PyTorch | bar: < 1 |")
    print("|---|---:|---:|---:|---|")
    for what, ours, theirs in rows:
        print("| %s | %.1f | %.1f | %.2fx | %s |" % (what, 1e3 * ours, 1e3 * theirs,
                                                      ours / theirs,
                                                      "met" if ours < theirs else "MISSED"))


if __name__ == "__main__":
    main()
