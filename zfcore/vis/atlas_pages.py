"""The atlas's pages from the numbers: what each unit, layer and index page shows (the fields
of ``atlas_html``), and the pictures as PNG files or data: URIs. ``atlas`` computes the numbers
and decides what to write."""
import base64
import io
import os

import numpy as np

from zfcore.atomic import atomic_write
from zfcore.vis import atlas_html as H
from zfcore.vis.geometry import layer_number


def unit_name(unit, n_units):
    """'017': the unit's number with at least 3 digits (enough for every unit of the layer)."""
    return "%0*d" % (max(3, len(str(n_units - 1))), unit)


def png_bytes(rgb):
    """(H, W, 3) in [0, 1] or uint8 -> PNG bytes."""
    from PIL import Image
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        a = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(rgb):
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")


def write_png(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_write(path, "wb") as f:
        f.write(png_bytes(rgb))


def scale_for(side, target=112):
    """A whole enlargement factor showing a ``side``-pixel picture at about ``target`` pixels."""
    return max(1, int(round(target / float(side))))


_VIRIDIS = []


def heat(m):
    """(H', W') map -> (H', W', 3) uint8, viridis from its minimum to its maximum."""
    if not _VIRIDIS:
        import matplotlib
        lut = matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3]
        _VIRIDIS.append(np.round(lut * 255).astype(np.uint8))
    lo, hi = float(m.min()), float(m.max())
    t = (m - lo) / (hi - lo) if hi > lo else np.full(m.shape, 0.5)
    return _VIRIDIS[0][np.round(t * 255).astype(int)]


def unit_info(ctx, conv, act, c, tops, live, occlusion):
    """The fields of ``atlas_html.unit_page`` for unit c of ``conv``."""
    site, scan, names, labels = ctx["site"], ctx["scans"][act], ctx["names"], ctx["labels"]
    top = scan.top
    n_units = len(top.values)
    convs = site.convs
    li = convs.index(conv)
    mean = scan.class_mean[c]
    best = int(np.nanargmax(mean)) if np.isfinite(mean).any() and top.values[c, 0] > 0 else None
    rf = ctx["rfs"][act]
    links = [("atlas", "../index.html"), ("%s: all units" % conv, "index.html")]
    links.append(("< unit %s" % unit_name(c - 1, n_units), "%s.html" % unit_name(c - 1, n_units))
                 if c > 0 else ("< (first unit)", None))
    links.append(("unit %s >" % unit_name(c + 1, n_units), "%s.html" % unit_name(c + 1, n_units))
                 if c + 1 < n_units else ("(last unit) >", None))
    if li > 0:
        links.append(("< layer %s" % convs[li - 1], "../%s/index.html" % convs[li - 1]))
    if li + 1 < len(convs):
        links.append(("layer %s >" % convs[li + 1], "../%s/index.html" % convs[li + 1]))
    links += site.report_link(conv)
    number = layer_number(ctx["net"], act)
    summary = ("Layer %d (%s, measured after %s), unit %d of %d. Strongest activation over %d "
               "images: %.4g%s. Receptive field: %d pixels square."
               % (number, H.esc(conv), H.esc(act), c, n_units, len(labels), top.values[c, 0],
                  "" if best is None else "; fires most for class <b>%s</b> (mean strongest "
                  "activation %.3g)" % (H.esc(names[best]), mean[best]),
                  min(rf.size, ctx["inputs"].hw[0])))
    u = {"title": "%s unit %s" % (conv, unit_name(c, n_units)), "nav": links, "summary": summary,
         "k": top.values.shape[1], "top": tops, "n_images": len(labels),
         "class_names": names, "class_mean": mean, "best_class": best,
         "class_images": [_class_image(site, img, v) for img, v in
                          zip(scan.class_best_image[c], scan.class_best[c])]}
    if number == 1:
        f = ctx["filters"][c]
        u["filter"] = H.tile(data_uri(f), (0, 0) + f.shape[:2], f.shape[:2],
                             scale_for(f.shape[0], 80), "filter %d" % c)
        u["filter_note"] = ("conv1 filter %d, %dx%d, on the layer's common scale (grey = 0)"
                            % (c, f.shape[0], f.shape[1]))
    u["evolution"], u["evolution_note"] = _evolution(ctx, act, c)
    u["occlusion"], u["occlusion_note"] = _occlusion_cells(ctx, occlusion, c)
    u["data"] = {"layer": conv, "act_layer": act, "unit": c,
                 "values": [float(v) for v in top.values[c]],
                 "images": [int(v) for v in top.image[c]],
                 "i": [int(v) for v in top.i[c]], "j": [int(v) for v in top.j[c]],
                 "class_mean": [None if not np.isfinite(v) else float(v) for v in mean],
                 "class_names": names, "best_class": best,
                 "class_best": [float(v) if np.isfinite(v) else None for v in scan.class_best[c]],
                 "class_best_image": [int(v) for v in scan.class_best_image[c]],
                 "evolution_epochs": u["evolution"]["epochs"] if u["evolution"] else [],
                 "occlusion": [{"rank": rank, "image": img, "unoccluded": base,
                                "map": m.tolist()} for rank, img, m, base in occlusion]}
    return u


def _class_image(site, img, value):
    """The image of a class that drives the unit most, small, beside its bar (None when no image
    of the class makes it positive)."""
    if img < 0 or not value > 0:
        return None
    src = H.esc("../" + site.image(int(img)).replace(os.sep, "/"))
    return ("<a href='%s'><img src='%s' alt='image %d' width='24' height='24'></a>"
            "<span class='best'>%.3g, image %d</span>" % (src, src, img, value, img))


def _evolution(ctx, act, c):
    hist = ctx["history"]
    if hist is None:
        return None, ("The run's folder has no evolution history (train with "
                      "<code>python -m zfcore.train --evolution</code>, the default).")
    folder, maps, epochs = hist
    recorded = [int(v) for v in maps.get(act, [])]
    if c not in recorded or not epochs:
        others = ", ".join("<a href='%s.html'>%d</a>" % (unit_name(m, len(ctx["scans"][act]
                                                                        .top.values)), m)
                           for m in recorded)
        return None, ("Training recorded the evolution of %d units of this layer only (chosen "
                      "at random): %s." % (len(recorded), others or "none"))
    k = recorded.index(c)
    frames = [fr[act][k] for _, fr, _ in epochs]
    scale = scale_for(max(frames[0].shape[:2]), 128)
    return ({"epochs": [int(e) for e, _, _ in epochs],
             "size": [v * scale for v in frames[0].shape[:2]],
             "frames": [data_uri(np.round(f * 255).astype(np.uint8)) for f in frames],
             "values": [float(v[act][k]) for _, _, v in epochs],
             "source": os.path.basename(os.path.dirname(folder)) + "/evolution"}, "")


def _occlusion_cells(ctx, occlusion, c):
    if not occlusion:
        return [], ""
    site, inputs, names, labels = ctx["site"], ctx["inputs"], ctx["names"], ctx["labels"]
    h, w = inputs.hw
    size, stride = ctx["size"], ctx["stride"]
    scale = scale_for(max(h, w), 128)
    centre = (size - 1) / 2.0
    cells = []
    for rank, img, m, base in occlusion:
        hp, wp = m.shape
        src = "../" + site.image(img).replace(os.sep, "/")
        cells.append({"html": "<span class='occ' style='width:%dpx;height:%dpx'>"
                              "<img src='%s' alt='image %d' width='%d' height='%d'>"
                              "<img class='heat' src='%s' alt='occlusion map' style='left:%.1fpx;"
                              "top:%.1fpx;width:%dpx;height:%dpx'></span>"
                              % (w * scale, h * scale, H.esc(src), img, w * scale, h * scale,
                                 data_uri(heat(m)), (centre - stride / 2.0) * scale,
                                 (centre - stride / 2.0) * scale, wp * stride * scale,
                                 hp * stride * scale),
                      "caption": "top %d: image %d (%s)<br>unoccluded %.3g, occluded %.3g to "
                                 "%.3g" % (rank + 1, img, H.esc(names[int(labels[img])]), base,
                                           m.min(), m.max())})
    note = ("Each map: the unit's total activation (its feature map summed over positions) with "
            "a %dx%d square of the training mean's grey centred on that place (stride %d), from "
            "its lowest (dark blue) to its highest (yellow), drawn over the image. Dark where "
            "the square hides what the unit responds to." % (size, size, stride))
    return cells, note


def write_layer_page(ctx, conv, act):
    site, scan, names = ctx["site"], ctx["scans"][act], ctx["names"]
    top = scan.top
    n_units = len(top.values)
    rf = ctx["rfs"][act]
    side = min(rf.size, ctx["inputs"].hw[0])
    scale = scale_for(side, 64)
    units = []
    for c in range(n_units):
        name = unit_name(c, n_units)
        mean = scan.class_mean[c]
        live = top.values[c, 0] > 0
        best = int(np.nanargmax(mean)) if live and np.isfinite(mean).any() else None
        thumb = (H.tile("img/%s.png" % name, (0, 0, side, side), (side, side * top.values.shape[1]),
                        scale, "unit %d" % c) if live else None)
        units.append({"unit": c, "href": name + ".html", "act": float(max(top.values[c, 0], 0)),
                      "cls": names[best] if best is not None else "", "thumb": thumb,
                      "label": name})
    convs = site.convs
    li = convs.index(conv)
    links = [("atlas", "../index.html")]
    if li > 0:
        links.append(("< layer %s" % convs[li - 1], "../%s/index.html" % convs[li - 1]))
    if li + 1 < len(convs):
        links.append(("layer %s >" % convs[li + 1], "../%s/index.html" % convs[li + 1]))
    links += site.report_link(conv)
    info = {"title": "%s: %d units" % (conv, n_units), "nav": links, "layer": conv,
            "act_layer": act, "shape": _shape(ctx["shapes"][act]), "rf": str(side),
            "n_images": len(ctx["labels"]), "units": units, "class_names": names,
            "thumb_width": max(side * scale, 48)}
    path = os.path.join(site.root, conv, "index.html")
    with atomic_write(path, "w") as f:
        f.write(H.layer_page(info))


def _shape(shape):
    return "\u00d7".join(str(v) for v in shape)


def write_index(ctx, title):
    site = ctx["site"]
    rows = []
    for conv, act in ctx["layers"]:
        top = ctx["scans"][act].top
        rf = ctx["rfs"][act]
        rows.append({"name": conv, "href": "%s/index.html" % conv, "act_layer": act,
                     "shape": _shape(ctx["shapes"][act]),
                     "rf": str(min(rf.size, ctx["inputs"].hw[0])), "units": len(top.values),
                     "live": int((top.values[:, 0] > 0).sum()),
                     "values": np.maximum(top.values[:, 0], 0)})
    other = [(n, _shape(s)) for n, s in ctx["shapes"].items()]
    about = ("<p>%d images, %d classes (%s). Every unit (feature map) of every conv layer has "
             "a page at <code>&lt;layer&gt;/&lt;NNN&gt;.html</code>: its top-%d activations "
             "projected by the deconvnet with their image patches, its evolution during "
             "training, the classes that drive it and occlusion maps.</p>"
             % (len(ctx["labels"]), len(ctx["names"]),
                H.esc(", ".join(ctx["names"][:12]) + (", ..." if len(ctx["names"]) > 12 else "")),
                ctx["k"]))
    info = {"title": title, "nav": site.report_link("."), "about": about, "layers": rows,
            "other": other}
    path = os.path.join(site.root, "index.html")
    with atomic_write(path, "w") as f:
        f.write(H.index_page(info))
    return path
