"""Peak memory of a training step: ours against PyTorch CPU, each side in a process of its own.

    python bench/step_memory.py [--configs zfnet,small] [--steps 3]

For each config of ``bench/cpu_step.py`` (``zfnet``: batch 8, 3x224x224; ``small``: batch 128,
3x64x64) and each side, a fresh Python process builds the model (the peer holds our weights,
as in cpu_step.py), runs ``--steps`` training steps (forward, softmax cross-entropy, backward,
SGD with momentum) and reports its peak resident set (``ru_maxrss``) and the peak minus what
the process held (``VmRSS``) once the model was built and the batch made: the step's own memory
(activations, columns, gradients, velocities, temporaries). Correctness is checked in the
parent: each side's eval-mode logits of the first two images, before any step (no dropout, so
the same function on the same weights), must agree to 1e-4 of their largest magnitude.

Peak RSS is what the kernel saw: it counts pages touched, not arrays allocated, and a process
only grows. The peer is imported here only, never inside zfcore.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)


def rss_mb():
    """The peak resident set so far, MB (Linux: ru_maxrss is in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_now_mb():
    """The resident set now, MB (from /proc; the peak where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return rss_mb()


def child(config, side, steps):
    """Run in the child process: build, step, print JSON {built, peak, logits}."""
    import numpy as np

    from cpu_step import CONFIGS, LR, MOMENTUM, WD
    build, classes, batch, shape = CONFIGS[config]
    net = build(classes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape, dtype=np.float32)
    labels = rng.integers(0, classes, batch)
    losses = []
    if side == "ours":
        from zfcore.optim import SGD
        opt = SGD(net, lr=LR, momentum=MOMENTUM, weight_decay=WD, max_filter_rms=None)
        built = rss_now_mb()
        logits = net.forward(x[:2], train=False)
        for _ in range(steps):
            losses.append(float(net.loss(net.forward(x, train=True), labels)))
            net.backward(input_grad=False)
            opt.step()
    else:
        import torch

        from peers import torch_model
        torch.set_num_threads(os.cpu_count() or 1)
        model = torch_model(net)
        del net
        weights = [m.weight for m in model if hasattr(m, "weight")]
        biases = [m.bias for m in model if hasattr(m, "bias")]
        opt = torch.optim.SGD([{"params": weights, "weight_decay": WD},
                               {"params": biases, "weight_decay": 0.0}], lr=LR,
                              momentum=MOMENTUM)
        xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
        built = rss_now_mb()
        model.eval()
        with torch.no_grad():
            logits = model(xt[:2]).numpy()
        model.train()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()
            losses.append(float(loss))
    print(json.dumps({"built": built, "peak": rss_mb(), "loss": losses[0],
                      "logits": np.asarray(logits, np.float64).ravel().tolist()}))


def measure(config, side, steps):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", config, side,
                          str(steps)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("step_memory: the %s %s process failed: %s"
                         % (side, config, (out.stderr.strip().splitlines() or ["?"])[-1]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="zfnet,small")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    rows = []
    for config in args.configs.split(","):
        ours, peer = measure(config, "ours", args.steps), measure(config, "torch", args.steps)
        a, b = (np.asarray(side["logits"]) for side in (ours, peer))
        err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
        agree = err <= 1e-4
        print("%s: eval logits of 2 images, ours vs torch: rel err %.1e (tol 1e-4)  %s"
              % (config, err, "OK" if agree else "MISMATCH"))
        if not agree:
            raise SystemExit(1)
        rows.append((config, ours, peer))
    print("| config | ours peak MB | torch peak MB | ours/torch | ours step MB | torch step MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for config, o, t in rows:
        print("| %s | %.0f | %.0f | %.2f | %.0f | %.0f |"
              % (config, o["peak"], t["peak"], o["peak"] / t["peak"], o["peak"] - o["built"],
                 t["peak"] - t["built"]))


if __name__ == "__main__":
    main()
