"""The one gradient checker of the test suite (in the spirit of Chainer's ``check_backward``).

Everything is float64. The numeric side is a central finite difference; the analytic side is
whatever the code under test returned.

- ``check_grad`` (the default) compares, along a few random directions ``v``,
  ``(f(x + eps v) - f(x - eps v)) / (2 eps)`` with ``<analytic grad, v>``: two evaluations of
  ``f`` per direction, so large shapes stay cheap. With ``full=True`` it perturbs every
  coordinate instead (tiny inputs only) and compares the whole gradient.
- ``check_layer_backward`` wraps a layer: loss ``<layer.forward(x), w>`` for a random ``w``,
  analytic gradients from ``layer.backward(w)`` (dx) and ``layer.grads`` (each parameter).

A failure message prints the inputs, the analytic gradient and the numeric one.
"""
import numpy as np

_PRINT = dict(precision=6, threshold=400, edgeitems=4, max_line_width=110)
FULL_ON_FAILURE = 2000      # inputs up to this size get their full numeric gradient printed


def _show(a):
    return np.array2string(np.asarray(a), **_PRINT)


def numeric_grad(f, x, eps=1e-6):
    """Full-coordinate central differences of the scalar ``f()`` w.r.t. the live array ``x``
    (perturbed in place, restored afterwards)."""
    g = np.zeros(x.shape, dtype=np.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    assert np.shares_memory(flat, x), "x must be contiguous to be perturbed in place"
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = float(f())
        flat[i] = orig - eps
        fm = float(f())
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def numeric_directional(f, x, v, eps=1e-6):
    """``(f(x + eps v) - f(x - eps v)) / (2 eps)``, ``x`` perturbed in place and restored."""
    orig = x.copy()
    x[...] = orig + eps * v
    fp = float(f())
    x[...] = orig - eps * v
    fm = float(f())
    x[...] = orig
    return (fp - fm) / (2 * eps)


def check_grad(f, inputs, grads, eps=1e-6, rtol=1e-6, atol=1e-10, directions=3, full=False,
               seed=0, context=""):
    """Assert that ``grads[name]`` is the gradient of the scalar ``f()`` w.r.t. ``inputs[name]``.

    ``inputs``: {name: float64 array that ``f`` reads (live: perturbed in place, restored)}.
    ``grads``: {name: analytic gradient, same shape}. Directional checks pass when
    ``|numeric - analytic| <= atol + rtol * max(|analytic|, |numeric|, ||grad||)`` (``||grad||``
    is the typical size of ``<grad, v>`` for a standard normal ``v``); full checks compare
    element-wise with the same tolerances scaled by ``max|grad|``.
    """
    rng = np.random.default_rng(seed)
    for name, x in inputs.items():
        assert x.dtype == np.float64, "%s: gradient checks run in float64, got %s" % (name, x.dtype)
        g = np.asarray(grads[name], dtype=np.float64)
        assert g.shape == x.shape, "%s: gradient shape %s != input shape %s" % (
            name, g.shape, x.shape)
        if full:
            num = numeric_grad(f, x, eps)
            scale = max(np.abs(g).max(initial=0.0), np.abs(num).max(initial=0.0))
            bad = np.abs(num - g) > atol + rtol * scale
            if bad.any():
                worst = np.unravel_index(np.argmax(np.abs(num - g)), g.shape)
                raise AssertionError(
                    "%sgradient w.r.t. %r wrong at %d of %d entries (worst at %s: analytic %r, "
                    "numeric %r)\ninputs:\n%s\nanalytic:\n%s\nnumeric:\n%s" % (
                        context and context + ": ", name, bad.sum(), bad.size, worst, g[worst],
                        num[worst], _show_inputs(inputs), _show(g), _show(num)))
            continue
        for d in range(directions):
            v = rng.standard_normal(x.shape)
            num = numeric_directional(f, x, v, eps)
            ana = float(np.vdot(g, v))
            tol = atol + rtol * max(abs(ana), abs(num), float(np.linalg.norm(g)))
            if not abs(num - ana) <= tol:
                # Small enough to afford it: the full numeric gradient, to print beside the
                # analytic.
                full_num = _show(numeric_grad(f, x, eps)) if x.size <= FULL_ON_FAILURE else \
                    "(not computed: %d entries)" % x.size
                raise AssertionError(
                    "%sgradient w.r.t. %r wrong along random direction %d: <analytic, v> = %r, "
                    "numeric = %r (diff %.3g, tol %.3g)\ninputs:\n%s\nanalytic gradient:\n%s\n"
                    "numeric gradient:\n%s\ndirection v:\n%s" % (
                        context and context + ": ", name, d, ana, num, abs(num - ana), tol,
                        _show_inputs(inputs), _show(g), full_num, _show(v)))


def _show_inputs(inputs):
    return "\n".join("%s %s:\n%s" % (k, a.shape, _show(a)) for k, a in inputs.items())


def check_layer_backward(layer, x, train=False, reset=None, seed=0, **kw):
    """Check ``layer.backward`` (dx and every ``layer.grads[key]``) by finite differences.

    ``x`` and the layer's params must already be float64. ``reset()``, if given, runs before
    every forward (e.g. to re-seed a dropout layer so that every forward draws the same mask).
    Keyword arguments go to ``check_grad``.
    """
    rng = np.random.default_rng(seed + 1)
    for key, p in layer.params.items():
        assert p.dtype == np.float64, "cast %s to float64 first" % key
    w = rng.standard_normal(_forward(layer, x, train, reset).shape)

    def f():
        return np.vdot(_forward(layer, x, train, reset), w)

    _forward(layer, x, train, reset)
    dx = layer.backward(w.copy())
    inputs = {"x": x}
    grads = {"x": dx}
    for key, p in layer.params.items():
        inputs[key] = p
        grads[key] = np.array(layer.grads[key], copy=True)
    check_grad(f, inputs, grads, seed=seed, context=repr(layer), **kw)
    return dx


def _forward(layer, x, train, reset):
    if reset is not None:
        reset()
    return layer.forward(x, train=train)
