"""A full-size photo through the paper's pipeline, end to end (Z&F Sec. 3, Fig. 3, Sec. 2.1, 4.2):
the ImageNet sample of ../shared/data read as the paper reads images (short side to 256, the
centre 256 x 256, a 224 x 224 crop), then a ZFNet forward, a deconvnet projection from conv5 and
an occlusion sweep."""
import os

import numpy as np
import pytest

from zfcore.data import open_dataset
from zfcore.data.crops import centre_crop
from zfcore.layers.loss import log_softmax
from zfcore.recipe import recipe
from zfcore.vis.geometry import receptive_fields, rf_boxes
from zfcore.vis.occlude import occlusion

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTOS = os.path.join(ROOT, "..", "shared", "data", "imagenet-sample")
pytestmark = pytest.mark.skipif(not os.path.isdir(PHOTOS),
                                reason="no ../shared/data/imagenet-sample beside the checkout")
# Fig. 3's sizes: conv1 110, pool1 55, conv2 26, pool2 13, conv3-5 13, pool5 6.
FIG3 = {"conv1": (96, 110), "pool1": (96, 55), "conv2": (256, 26), "pool2": (256, 13),
        "conv3": (384, 13), "conv4": (384, 13), "conv5": (256, 13), "pool5": (256, 6)}


@pytest.fixture(scope="module")
def photos():
    return open_dataset(PHOTOS, "train")


@pytest.fixture(scope="module")
def zfnet(photos):
    # He init, so that a random ZFNet's deep layers are lively enough to look at
    return recipe("zfnet", num_classes=len(photos.class_names), init="he").build(seed=0)


def test_photos_are_read_short_side_256_then_the_centre_square(photos):
    from PIL import Image
    assert photos.images.shape == (28, 256, 256, 3) and len(photos.class_names) == 28
    # by hand, the other way round: cut the centred square out of the photo, then resize it
    checked = 0
    for k in range(len(photos.class_names)):
        folder = os.path.join(PHOTOS, photos.class_names[k])
        with Image.open(os.path.join(folder, sorted(os.listdir(folder))[0])) as img:
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            if (w - h) % 2 or checked == 5:       # an odd difference: no whole-pixel centre
                continue
            left, top = (w - side) // 2, (h - side) // 2
            square = img.crop((left, top, left + side, top + side))
            ref = np.asarray(square.resize((256, 256), Image.Resampling.BILINEAR), np.float64)
        ours = photos.images[k].astype(np.float64)
        err = np.abs(ours - ref).mean()
        assert err < 3.0, (photos.class_names[k], err)      # big JPEGs: decoded at a lower scale
        assert np.abs(ours - np.roll(ref, 8, axis=1)).mean() > 4 * err + 5
        checked += 1
    assert checked == 5


def test_zfnet_forward_projection_and_occlusion_on_a_224_photo(photos, zfnet):
    x = centre_crop(photos.images[:1], photos.mean, 224)           # (1, 3, 224, 224)
    assert x.shape == (1, 3, 224, 224)
    outs = zfnet.forward(x, keep=list(FIG3) + ["fc8"])
    for name, (c, side) in FIG3.items():
        assert outs[name].shape == (1, c, side, side), name
    assert outs["fc8"].shape == (1, 28) and np.isfinite(outs["fc8"]).all()

    # the deconvnet projection of conv5's strongest unit lies inside that unit's receptive field
    a = outs["conv5"][0]
    channel = int(a.reshape(a.shape[0], -1).max(axis=1).argmax())
    i, j = np.unravel_index(int(a[channel].argmax()), a.shape[1:])
    proj = zfnet.project(x, "conv5", channel)[0]                   # (3, 224, 224)
    y0, x0, y1, x1 = rf_boxes(receptive_fields(zfnet)["conv5"], i, j, (224, 224))[0]
    inside = np.zeros((224, 224), bool)
    inside[y0:y1, x0:x1] = True
    energy = (proj ** 2).sum(axis=0)
    assert energy[inside].sum() > 0 and energy[~inside].max() == 0
    assert not inside.all()                       # a real constraint: the field is not the image

    # the occlusion sweep: each position's probability is that of the image occluded by hand
    label = int(photos.labels[0])
    size, stride = 48, 44
    res = occlusion(zfnet, x[0], label, size, stride, layer="pool5")
    assert res["prob"].shape == (5, 5)
    for (r, c) in ((0, 0), (2, 3), (4, 4)):
        xo = x[:1].copy()
        xo[0, :, r * stride:r * stride + size, c * stride:c * stride + size] = 0.0
        lp = log_softmax(zfnet.forward(xo))[0]
        assert res["logp"][r, c] == pytest.approx(float(lp[label]), abs=1e-4)
        assert res["top_class"][r, c] == int(np.argmax(lp))
    assert np.ptp(res["logp"]) > 0                # the square changes what the net sees
