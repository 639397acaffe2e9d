"""Train the 32x32 small ZF net on real images, ours and PyTorch's side by side.

    python bench/train_real.py [--data ../shared/data/cifar-10-batches-py] [--epochs 5]

Both nets start from the same weights (ours, copied into a ``torch.nn.Sequential`` twin), see
the same batches in the same order (``zfcore.data.batches``: random crops of the padded image
and flips), and take the same update (Z&F Sec. 3: v = 0.9 v - lr (g + wd w); w += v; conv
filters renormalised to RMS 0.1), written out by hand for PyTorch so that the recipes are
identical. Only the dropout masks differ. Reports test accuracy (centre crop) and training
images/s of each; the bar is |ours - torch| <= 1.5 points. Without PyTorch only ours runs.
"""
import argparse
import os
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from zfcore.data import batches, open_dataset  # noqa: E402
from zfcore.evaluate import evaluate  # noqa: E402
from zfcore.models import build, spec_of  # noqa: E402
from zfcore.optim import SGD  # noqa: E402

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
                    scale = torch.where(rms > max_rms, max_rms / rms.clamp_min(1e-30), torch.ones_like(rms))
                    p.mul_(scale.view(-1, 1, 1, 1))
                p.grad = None


def torch_accuracy(model, ds, crop, batch_size):
    import torch
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in batches(ds, batch_size, crop, train=False):
            correct += int((model(torch.from_numpy(x)).argmax(1).numpy() == y).sum())
    return correct / len(ds.labels)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="CIFAR-10 python folder or Fashion-MNIST idx folder "
                    "(default: the first found in ../shared/data)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
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
    test = open_dataset(data, "test", **kw)
    test.mean = train.mean
    spec = spec_of("zfnet_small32", len(train.class_names), input_channels=3, init_std="he")
    net = build(spec, seed=args.seed)
    crop = spec["input"][1]

    model = None
    if not args.no_torch:
        try:
            import torch
            from peers import torch_model
            torch.manual_seed(args.seed)
            torch.set_num_threads(os.cpu_count())
            model = torch_model(net)
        except ImportError:
            print("PyTorch not importable: ours only")
    opt = SGD(net, args.lr, 0.9, args.weight_decay)
    velocity = {}
    t_ours = t_torch = 0.0
    seen = 0
    print("data %s: %d train, %d test images, %d classes; zfnet_small32, %d epochs, batch %d, lr %g"
          % (data, len(train.labels), len(test.labels), len(train.class_names), args.epochs,
             args.batch_size, args.lr))
    for epoch in range(args.epochs):
        for x, y in batches(train, args.batch_size, crop, train=True, seed=args.seed, epoch=epoch):
            t = time.perf_counter()
            net.loss(net.forward(x, train=True), y)
            net.backward()
            opt.step()
            t_ours += time.perf_counter() - t
            if model is not None:
                import torch
                t = time.perf_counter()
                model.train()
                torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
                torch_update(model, velocity, args.lr, 0.9, args.weight_decay)
                t_torch += time.perf_counter() - t
            seen += len(y)
        acc = 1 - evaluate(net, test, crop, 256)["top1"]
        line = "epoch %d  ours: test acc %.2f%%  %.0f img/s" % (epoch + 1, 100 * acc, seen / t_ours)
        if model is not None:
            acc_t = torch_accuracy(model, test, crop, 256)
            line += "   torch: test acc %.2f%%  %.0f img/s" % (100 * acc_t, seen / t_torch)
        print(line, flush=True)
    if model is not None:
        gap = 100 * (acc - acc_t)
        print("| data | epochs | ours acc | torch acc | gap (points) | ours img/s | torch img/s |")
        print("|---|---|---|---|---|---|---|")
        print("| %s | %d | %.2f%% | %.2f%% | %+.2f | %.0f | %.0f |"
              % (os.path.basename(data), args.epochs, 100 * acc, 100 * acc_t, gap, seen / t_ours,
                 seen / t_torch))
        print("bar |gap| <= 1.5 points: %s" % ("met" if abs(gap) <= 1.5 else "NOT met"))


if __name__ == "__main__":
    main()
