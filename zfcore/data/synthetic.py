"""The ``synthetic`` dataset: shapes on textured backgrounds, with each object's box and mask.

Twelve classes of shapes (``SHAPES``), each drawn at a random position, scale, rotation and
colour over a random textured background, so that only the *shape* tells the class apart:

- position, scale (circumradius 0.24..0.38 of the side), rotation (0..2 pi) and colours are drawn
  independently of the class; the object always lies wholly inside the image's centre 7/8
  (a 56x56 centre crop of a 64x64 image keeps all of it);
- object and background colours are uniform in RGB, the background's two colours chosen to
  differ from the object's luminance by at least ``MIN_CONTRAST`` (so the shape stays visible,
  and the mean colour carries no class);
- the background blends those two colours through smooth random noise and a linear gradient,
  adds a faint sinusoidal texture of random frequency, orientation and colour, and pixel noise;
  the object gets a faint shading gradient of its own.

Every image keeps its object's mask (the pixels at least half covered by the shape) and the
tight box around that mask, ``(y0, x0, y1, x1)`` with y1, x1 exclusive (NumPy slice bounds), so
occlusion maps and deconvnet projections can be scored against ground truth.

Shapes are signed distance functions in the object's own unit frame (the shape fits in the unit
disc); coverage is ``clip(0.5 - distance_in_pixels, 0, 1)``, an anti-aliased edge one pixel wide.
Rendering is vectorised over the images of one class within a chunk: no per-pixel loop.

Determinism: images are made in chunks of ``CHUNK`` images; chunk k of split s is drawn from
``SeedSequence([seed, s, k])`` alone, so image i is the same whatever ``n`` is (a smaller set is
a prefix of a larger one), the splits are independent, and threads change nothing. Labels run
through blocks of ``len(SHAPES)`` images, each block holding every class once in random order:
any prefix is balanced to within one image per class.
"""
import concurrent.futures
import functools
import math

import numpy as np

from zfcore.data.base import DataError, Dataset, pixel_mean

SHAPES = ("disc", "ring", "square", "hollow_square", "triangle", "cross", "star", "stripes",
          "ellipse", "pentagon", "arrow", "l_shape")
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
DEFAULT_N = {"train": 10000, "val": 2000, "test": 2000}
DEFAULT_SIZE = 64
CHUNK = 40 * len(SHAPES)          # 480 images: a whole number of label blocks
MEAN_IMAGES = 2000                # the train-split prefix the shared mean image is taken over
SCALE = (0.24, 0.38)              # circumradius, as a fraction of the image side
MIN_CONTRAST = 0.4                # |luminance(object) - luminance(background colours)|
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# -- signed distance functions, in the object's unit frame (negative inside) ---------------------

def _box(u, v, hw, hh, cu=0.0, cv=0.0):
    """Axis-aligned rectangle of half-sizes (hw, hh) centred at (cu, cv) (exact inside, the
    Chebyshev distance outside: good enough for a one-pixel anti-aliased edge)."""
    return np.maximum(np.abs(u - cu) - hw, np.abs(v - cv) - hh)


def _convex(u, v, vertices):
    """Convex polygon, vertices (K, 2) counter-clockwise: the largest signed distance to the
    lines of its edges."""
    vertices = np.asarray(vertices, dtype=np.float64)
    d = None
    for (a, b) in zip(vertices, np.roll(vertices, -1, axis=0)):
        e = b - a
        nu, nv = e[1] / math.hypot(*e), -e[0] / math.hypot(*e)   # outward normal (CCW order)
        di = (u * nu + v * nv) - (a[0] * nu + a[1] * nv)
        d = di if d is None else np.maximum(d, di)
    return d


def _regular(k, circumradius, phase=0.0):
    angles = phase + 2 * np.pi * np.arange(k) / k
    return np.stack([circumradius * np.cos(angles), circumradius * np.sin(angles)], axis=1)


def _star_parts():
    outer, inner = _regular(5, 1.0, np.pi / 2), _regular(5, 0.40, np.pi / 2 + np.pi / 5)
    tips = [np.stack([inner[i - 1], outer[i], inner[i]]) for i in range(5)]
    return [inner] + tips


_STAR = _star_parts()
_TRIANGLE = _regular(3, 0.95, np.pi / 2)
_PENTAGON = _regular(5, 0.95, np.pi / 2)
_ARROW_HEAD = np.array([[0.95, 0.0], [0.05, 0.6], [0.05, -0.6]])


def _sdf(shape, u, v):
    if shape == "disc":
        return np.sqrt(u * u + v * v) - 0.82
    if shape == "ring":
        return np.abs(np.sqrt(u * u + v * v) - 0.68) - 0.21
    if shape == "square":
        return _box(u, v, 0.66, 0.66)
    if shape == "hollow_square":
        return np.abs(_box(u, v, 0.54, 0.54)) - 0.15
    if shape == "triangle":
        return _convex(u, v, _TRIANGLE)
    if shape == "cross":
        return np.minimum(_box(u, v, 0.88, 0.22), _box(u, v, 0.22, 0.88))
    if shape == "star":
        # The centre pentagon is inflated a little so that it overlaps the five tips: where two
        # parts only touch, the union of their distances would leave a half-covered seam.
        return functools.reduce(np.minimum, [_convex(u, v, p) for p in _STAR[1:]],
                                _convex(u, v, _STAR[0]) - 0.06)
    if shape == "stripes":
        return functools.reduce(np.minimum,
                                [_box(u, v, 0.13, 0.68, cu=c) for c in (-0.5, 0.0, 0.5)])
    if shape == "ellipse":
        a, b = 0.95, 0.48
        q = np.sqrt((u / a) ** 2 + (v / b) ** 2) + 1e-6
        grad = np.sqrt((u / a ** 2) ** 2 + (v / b ** 2) ** 2) / q + 1e-6  # |grad q|: distance
        return (q - 1.0) / grad                                             # from a level set
    if shape == "pentagon":
        return _convex(u, v, _PENTAGON)
    if shape == "arrow":
        return np.minimum(_box(u, v, 0.525, 0.18, cu=-0.375), _convex(u, v, _ARROW_HEAD))
    if shape == "l_shape":
        return np.minimum(_box(u, v, 0.2, 0.75, cu=-0.45), _box(u, v, 0.65, 0.2, cv=0.55))
    raise ValueError("unknown shape %r" % (shape,))


# -- one chunk -------------------------------------------------------------------------------

def _upsample_matrix(size, grid):
    """(size, grid) bilinear interpolation weights from a grid x grid lattice spanning the image."""
    pos = (np.arange(size) + 0.5) / size * (grid - 1)
    lo = np.minimum(np.floor(pos).astype(int), grid - 2)
    frac = pos - lo
    m = np.zeros((size, grid), dtype=np.float32)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _smooth_noise(rng, count, size, grid):
    """(count, size, size) smooth noise in about [-1, 1]: a random grid, bilinearly upsampled."""
    m = _upsample_matrix(size, grid)
    low = rng.uniform(-1, 1, size=(count, grid, grid)).astype(np.float32)
    return m @ low @ m.T                                  # (count, size, size)


def _contrasting(rng, obj):
    """Background colours (B, 3) whose luminance differs from ``obj``'s by >= MIN_CONTRAST."""
    b = obj.shape[0]
    cand = rng.uniform(0, 1, size=(b, 16, 3)).astype(np.float32)
    ok = np.abs(cand @ _LUMA - (obj @ _LUMA)[:, None]) >= MIN_CONTRAST      # (B, 16)
    first = np.argmax(ok, axis=1)
    out = cand[np.arange(b), first]
    none = ~ok.any(axis=1)               # rare: fall back to black or white, whichever is far
    out[none] = np.where((obj[none] @ _LUMA > 0.5)[:, None], 0.0, 1.0)
    return out


def render_chunk(seed, split_id, chunk, size, count=CHUNK):
    """The first ``count`` images of chunk ``chunk`` of a split, from ``SeedSequence([seed,
    split_id, chunk])`` alone.

    Returns images (count, size, size, 3) uint8, labels (count,) int64, boxes (count, 4) int32
    (y0, x0, y1, x1), masks (count, size, size) bool. Every random draw is made for the whole
    chunk, so a shorter ``count`` gives a prefix of the full chunk.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, split_id, chunk]))
    nb, k = CHUNK, len(SHAPES)
    labels = rng.permuted(np.tile(np.arange(k), (nb // k, 1)), axis=1).reshape(-1)
    # Object geometry: radius in pixels, centre such that the unit disc stays inside the image.
    radius = rng.uniform(*SCALE, size=nb) * size
    margin = radius + size / 16          # the centre crop of 7/8 of the side keeps the object
    cy = rng.uniform(margin, size - margin)
    cx = rng.uniform(margin, size - margin)
    theta = rng.uniform(0, 2 * np.pi, size=nb)
    obj_col = rng.uniform(0, 1, size=(nb, 3)).astype(np.float32)
    bg1, bg2 = _contrasting(rng, obj_col), _contrasting(rng, obj_col)
    shade_dir = rng.uniform(0, 2 * np.pi, size=nb)
    shade_amp = rng.uniform(0, 0.25, size=nb)
    # Background: colour blend through smooth noise + gradient, sinusoid texture, pixel noise.
    grid = int(rng.integers(3, 7))
    blend_noise = _smooth_noise(rng, nb, size, grid)
    grad_dir = rng.uniform(0, 2 * np.pi, size=nb)
    grad_amp = rng.uniform(0, 0.5, size=nb)
    tex_freq = rng.uniform(0.25, 1.2, size=nb)             # radians per pixel
    tex_dir = rng.uniform(0, np.pi, size=nb)
    tex_phase = rng.uniform(0, 2 * np.pi, size=nb)
    tex_col = rng.uniform(-0.07, 0.07, size=(nb, 3)).astype(np.float32)
    # Pixel noise is uniform (a quarter of the cost of Gaussian draws), sd 0.01..0.04.
    noise_amp = (rng.uniform(0.01, 0.04, size=nb) * math.sqrt(12)).astype(np.float32)
    noise = rng.random(size=(nb, size, size, 3), dtype=np.float32)

    sl = slice(0, count)
    f32 = np.float32
    ax = ((np.arange(size) + 0.5) / size - 0.5).astype(f32)        # [-0.5, 0.5)
    yy, xx = ax[None, :, None], ax[None, None, :]

    def col(a):  # per-image scalar -> broadcastable (count, 1, 1)
        return np.asarray(a[sl], dtype=f32)[:, None, None]

    t = 0.5 + 0.35 * blend_noise[sl] + col(grad_amp) * (
        col(np.cos(grad_dir)) * xx + col(np.sin(grad_dir)) * yy)
    t = np.clip(t, 0, 1)[..., None]                                 # (count, S, S, 1)
    img = (bg2 - bg1)[sl, None, None, :] * t
    img += bg1[sl, None, None, :]                                   # (count, S, S, 3)
    phase = (col(tex_freq * size * np.cos(tex_dir)) * xx
             + col(tex_freq * size * np.sin(tex_dir)) * yy
             + col(tex_phase))
    img += np.cos(phase)[..., None] * tex_col[sl, None, None, :]

    alpha = np.empty((count, size, size), dtype=f32)
    pix = np.arange(size, dtype=f32) + 0.5
    for c, name in enumerate(SHAPES):
        idx = np.flatnonzero(labels[sl] == c)
        if idx.size == 0:
            continue
        r, cth, sth = (a[idx].astype(f32)[:, None, None]
                       for a in (radius, np.cos(theta), np.sin(theta)))
        dy = pix[None, :, None] - cy[idx].astype(f32)[:, None, None]
        dx = pix[None, None, :] - cx[idx].astype(f32)[:, None, None]
        u, v = (cth * dx + sth * dy) / r, (cth * dy - sth * dx) / r   # (G, S, S) unit frame
        alpha[idx] = np.clip(0.5 - _sdf(name, u, v) * r, 0, 1)
    shade = 1 + col(shade_amp) * (col(np.cos(shade_dir)) * xx + col(np.sin(shade_dir)) * yy) * 2
    obj = obj_col[sl, None, None, :] * shade[..., None]
    obj -= img
    obj *= alpha[..., None]
    img += obj                                                      # img*(1-a) + obj*a
    noise = noise[sl]
    noise -= 0.5
    noise *= noise_amp[sl, None, None, None]
    img += noise
    img *= 255
    img += 0.5
    images = np.clip(img, 0, 255, out=img).astype(np.uint8)

    masks = alpha >= 0.5
    rows, cols = masks.any(axis=2), masks.any(axis=1)               # (count, S) each
    boxes = np.stack([np.argmax(rows, 1), np.argmax(cols, 1),
                      size - np.argmax(rows[:, ::-1], 1), size - np.argmax(cols[:, ::-1], 1)],
                     axis=1).astype(np.int32)
    return images, labels[sl].astype(np.int64), boxes, masks


def generate(seed, split, n, size=DEFAULT_SIZE, threads=2):
    """The first ``n`` images of a split: (images, labels, boxes, masks), see ``render_chunk``.

    Chunks are rendered in ``threads`` threads (NumPy releases the GIL); the result does not
    depend on ``threads``.
    """
    split_id = SPLIT_IDS[split]
    counts = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    boxes = np.empty((n, 4), dtype=np.int32)
    masks = np.empty((n, size, size), dtype=bool)

    def work(k):
        s = slice(k * CHUNK, k * CHUNK + counts[k])
        images[s], labels[s], boxes[s], masks[s] = render_chunk(seed, split_id, k, size, counts[k])

    if threads > 1 and len(counts) > 1:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(len(counts))))
    else:
        for k in range(len(counts)):
            work(k)
    return images, labels, boxes, masks


_MEANS = {}   # (seed, size) -> mean image: opening val after train renders no image twice


def train_mean(seed, size, images=None):
    """The shared mean image: the per-pixel mean of the first ``MEAN_IMAGES`` train images
    (taken from ``images`` when they are those, else rendered), cached in this process."""
    key = (seed, size)
    if key not in _MEANS:
        if images is None or len(images) < MEAN_IMAGES:
            images = generate(seed, "train", MEAN_IMAGES, size)[0]
        _MEANS[key] = pixel_mean(images[:MEAN_IMAGES])
    return _MEANS[key]


def load(split, size=None, seed=0, n=None):
    """The ``synthetic`` split as a ``Dataset`` (see the module docstring). ``n`` defaults to
    ``DEFAULT_N[split]``; ``size`` to 64. The mean image is that of the first ``MEAN_IMAGES``
    train images, so every split and every ``n`` of one seed share it."""
    size = size or DEFAULT_SIZE
    if size < 16:
        raise DataError("size: synthetic images need a side of at least 16, got %d" % size)
    n = DEFAULT_N[split] if n is None else n
    images, labels, boxes, masks = generate(seed, split, n, size)
    mean = train_mean(seed, size, images if split == "train" else None)
    return Dataset(images, labels, list(SHAPES), mean, "synthetic", split,
                   source="synthetic:seed=%d" % seed, boxes=boxes, masks=masks)
