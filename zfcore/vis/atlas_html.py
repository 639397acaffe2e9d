"""The atlas's pages as HTML text: the index, one page per layer, one per unit.

Pure functions from plain data (numbers, names, relative paths) to strings; ``atlas`` computes
the data and writes the files. Everything a page needs is in it or beside it (its CSS and the
few lines of script are inline; images are files of the atlas or data: URIs), so the site opens
from the file system with no server and no network. Small pictures are enlarged by whole
factors without smoothing (``image-rendering: pixelated``).
"""
import html
import json

import numpy as np

STYLE = """body{font-family:sans-serif;margin:1.2em 2em;color:#222;background:#fafafa}
a{color:#1a5fb4}nav{margin:.4em 0 1em;font-size:.95em}nav a{margin-right:.9em}
img{image-rendering:pixelated;image-rendering:crisp-edges}
.tile{display:inline-block;position:relative;overflow:hidden;vertical-align:top;
background:#fff;outline:1px solid #bbb}
.tile img{position:absolute;max-width:none}
.cell{display:inline-block;margin:0 .5em .7em 0;font-size:.72em;color:#444;text-align:center;
vertical-align:top}
.row{margin:.3em 0 .8em}.grid9{display:inline-grid;gap:2px 6px;margin:.3em 2.5em .5em 0;
vertical-align:top}.grid9 .cell{margin:0}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}
.units{display:flex;flex-wrap:wrap;gap:6px}.card{font-size:.7em;text-align:center;width:var(--w)}
.card a{text-decoration:none;color:#333}.dead{color:#a33}.note{color:#666;font-size:.9em}
.bars{font-size:.8em}.bars div{display:flex;align-items:center;margin:1px 0}
.bars .n{width:9em;text-align:right;padding-right:.5em}.bars .b{background:#4a7ab5;height:.9em}
.bars .top .b{background:#d4682b}.bars .v{padding-left:.4em;color:#555;min-width:3em}
.bars .x{width:11em;display:flex;align-items:center}.bars .best{color:#777;padding-left:.3em}
.occ{position:relative;display:inline-block;overflow:hidden}
.occ .heat{position:absolute;opacity:.75}"""


def page(title, body, script=""):
    """A whole HTML document: ``title``, ``body`` (HTML) and an optional inline ``script``."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>%s</title>"
            "<style>%s</style></head><body>%s%s</body></html>\n"
            % (esc(title), STYLE, body, "<script>%s</script>" % script if script else ""))


def esc(s):
    return html.escape(str(s), quote=True)


def nav(links):
    """[(label, href or None)] -> a <nav>; a link without href is plain text."""
    parts = ["<a href='%s'>%s</a>" % (esc(h), esc(t)) if h else "<span>%s</span>" % esc(t)
             for t, h in links]
    return "<nav>%s</nav>" % " ".join(parts)


def tile(src, box, size, scale, alt, title=None):
    """One picture cut out of a larger image file: ``box`` (y0, x0, y1, x1) of the image at
    ``src`` whose size is ``size`` (H, W), shown ``scale`` times enlarged."""
    y0, x0, y1, x1 = (int(v) for v in box)
    h, w = size
    return ("<span class='tile' style='width:%dpx;height:%dpx'%s><img src='%s' alt='%s' "
            "style='width:%dpx;height:%dpx;left:%dpx;top:%dpx'></span>"
            % ((x1 - x0) * scale, (y1 - y0) * scale,
               " title='%s'" % esc(title) if title else "", esc(src), esc(alt),
               w * scale, h * scale, -x0 * scale, -y0 * scale))


def histogram_svg(values, bins=24, width=260, height=48):
    """An inline SVG histogram of ``values`` (the units' strongest activations) from 0 to their
    maximum; units at 0 (dead) are the red bar on the left."""
    values = np.asarray(values, dtype=np.float64)
    dead = int((values <= 0).sum())
    live = values[values > 0]
    top = float(live.max()) if len(live) else 1.0
    counts = np.histogram(live, bins=bins, range=(0, top))[0] if len(live) else np.zeros(bins)
    peak = max(int(counts.max()), dead, 1)
    bw = width / (bins + 1.0)
    rects = ["<rect x='0' y='%.1f' width='%.1f' height='%.1f' fill='#c33'><title>dead: %d"
             "</title></rect>" % (height - height * dead / peak, bw * 0.9, height * dead / peak,
                                  dead)]
    for b, c in enumerate(counts):
        hh = height * c / peak
        rects.append("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#4a7ab5'>"
                      "<title>%.3g-%.3g: %d</title></rect>"
                      % ((b + 1) * bw, height - hh, bw * 0.9, hh, b * top / bins,
                         (b + 1) * top / bins, c))
    return ("<svg width='%d' height='%d' viewBox='0 0 %d %d' role='img'>%s</svg>"
            "<div class='note'>0 &hellip; %.3g</div>"
            % (width, height + 1, width, height + 1, "".join(rects), top))


def bars(names, values, highlight=None, extra=None):
    """A horizontal bar chart (HTML and CSS only): one row per name, bar length ~ value;
    ``extra``: per row more HTML between the name and the bar (or None)."""
    values = np.asarray(values, dtype=np.float64)
    peak = np.nanmax(values) if np.isfinite(values).any() and np.nanmax(values) > 0 else 1.0
    rows = []
    for k, (n, v) in enumerate(zip(names, values)):
        width = 0 if not np.isfinite(v) else max(0.0, 100.0 * v / peak)
        rows.append("<div%s><span class='n'>%s</span>%s<span class='b' style='width:%.1fem;"
                    "min-width:%s'></span><span class='v'>%s</span></div>"
                    % (" class='top'" if k == highlight else "", esc(n),
                       "<span class='x'>%s</span>" % (extra[k] or "") if extra is not None else "",
                       width * 0.2, "1px" if width > 0 else "0",
                       "n/a" if not np.isfinite(v) else "%.3g" % v))
    return "<div class='bars'>%s</div>" % "".join(rows)


def data_script(element_id, data):
    """Numbers a page carries for its script and for readers (tests, other tools): JSON in a
    <script type='application/json'>, which the browser does not run."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return "<script type='application/json' id='%s'>%s</script>" % (esc(element_id), text)


LAYER_SCRIPT = """(function(){
var grid=document.getElementById('units'),cards=Array.prototype.slice.call(grid.children),
sort=document.getElementById('sort'),filter=document.getElementById('filter'),
shown=document.getElementById('shown');
function apply(){var by=sort.value,q=filter.value.trim().toLowerCase(),n=0;
cards.slice().sort(function(a,b){var u=a.dataset.unit-b.dataset.unit,
v=b.dataset.act-a.dataset.act;
if(by==='act')return v||u;if(by==='class')return a.dataset.cls.localeCompare(b.dataset.cls)||v||u;
return u;}).forEach(function(c){grid.appendChild(c);
c.hidden=q!==''&&c.dataset.cls.toLowerCase().indexOf(q)<0;if(!c.hidden)n++;});
shown.textContent=n+' of '+cards.length+' units shown';}
sort.addEventListener('change',apply);filter.addEventListener('input',apply);apply();})();"""

EVOLUTION_SCRIPT = """(function(){
var d=JSON.parse(document.getElementById('evo-data').textContent),
s=document.getElementById('evo-slider'),img=document.getElementById('evo-frame'),
label=document.getElementById('evo-label');
function show(){var k=+s.value;img.src=d.frames[k];
label.textContent='epoch '+d.epochs[k]+' ('+(k+1)+' of '+d.epochs.length+
'): strongest activation '+d.values[k].toPrecision(3);}
s.addEventListener('input',show);show();})();"""


def layer_page(info):
    """The page of one layer: every unit as a thumbnail of its strongest projection, sortable
    by activation or by the class it fires for most, filterable by class name.

    ``info``: title, nav [(label, href)], layer, act_layer, shape, rf, n_images, units: [{unit,
    href, act, cls, thumb (HTML or None)}], class_names, thumb_width (px)."""
    cards = []
    for u in info["units"]:
        pic = u["thumb"] or "<span class='dead'>dead</span>"
        cards.append("<div class='card' data-unit='%d' data-act='%.9g' data-cls='%s'>"
                     "<a href='%s'>%s<br>%s &middot; %s%s</a></div>"
                     % (u["unit"], u["act"], esc(u["cls"]), esc(u["href"]), pic, esc(u["label"]),
                        "%.3g" % u["act"], (" &middot; " + esc(u["cls"])) if u["act"] > 0 else ""))
    options = "".join("<option value='%s'>" % esc(c) for c in info["class_names"])
    body = (nav(info["nav"]) + "<h1>%s</h1>" % esc(info["title"]) +
            "<p>%s: %d units of %s, measured after %s over %d images; the thumbnail is each "
            "unit's strongest activation projected to pixels by the deconvnet (Z&amp;F Sec. 2.1),"
            " cropped to its %s-pixel receptive field. Click a unit for its page.</p>"
            % (esc(info["layer"]), len(info["units"]), esc(info["shape"]), esc(info["act_layer"]),
               info["n_images"], esc(info["rf"])) +
            "<p><label>sort by <select id='sort'><option value='unit'>unit</option>"
            "<option value='act'>strongest activation</option><option value='class'>class it "
            "fires for most</option></select></label> &nbsp; <label>class <input id='filter' "
            "list='classes' placeholder='any class' size='14'></label><datalist id='classes'>%s"
            "</datalist> &nbsp; <span id='shown' class='note'></span></p>" % options +
            "<div id='units' class='units' style='--w:%dpx'>%s</div>"
            % (info["thumb_width"], "".join(cards)))
    return page(info["title"], body, LAYER_SCRIPT)


def index_page(info):
    """The atlas's front page: the net's layers with their shapes, the live and dead units of
    each and the distribution of their strongest activations.

    ``info``: title, nav, about (HTML), layers: [{name, href, act_layer, shape, rf, units, live,
    values}], other: [(name, shape)] the layers without pages."""
    rows = []
    for lay in info["layers"]:
        rows.append("<tr><td class='l'><a href='%s'>%s</a></td><td class='l'>%s</td>"
                    "<td>%s</td><td>%s</td><td>%d</td><td>%d</td><td class='dead'>%d</td>"
                    "<td class='l'>%s</td></tr>"
                    % (esc(lay["href"]), esc(lay["name"]), esc(lay["act_layer"]),
                       esc(lay["shape"]), esc(lay["rf"]), lay["units"], lay["live"],
                       lay["units"] - lay["live"], histogram_svg(lay["values"])))
    other = ", ".join("%s %s" % (esc(n), esc(s)) for n, s in info["other"])
    body = (nav(info["nav"]) + "<h1>%s</h1>" % esc(info["title"]) + info["about"] +
            "<table><tr><th class='l'>layer</th><th class='l'>measured at</th><th>output "
            "(C&times;H&times;W)</th><th>receptive field</th><th>units</th><th>live</th>"
            "<th>dead</th><th class='l'>strongest activation per unit (dead in red)</th></tr>"
            "%s</table>" % "".join(rows) +
            "<p class='note'>A unit is a feature map; it is dead when no image makes it "
            "positive anywhere. All layers: %s.</p>" % other)
    return page(info["title"], body)


def unit_page(u):
    """The page of one unit (see ``atlas.unit_info`` for the fields of ``u``)."""
    parts = [nav(u["nav"]), "<h1>%s</h1>" % esc(u["title"]), "<p>%s</p>" % u["summary"]]
    parts.append("<h2>Top-%d activations: projections and image patches (Fig. 2)</h2>" % u["k"])
    if u["top"]:
        cols = int(np.ceil(np.sqrt(u["k"])))
        for key in ("proj", "patch"):
            parts.append("<div class='grid9' style='grid-template-columns:repeat(%d,auto)'>%s"
                         "</div>" % (cols, "".join("<span class='cell'>%s<br>%s</span>"
                                                   % (t[key], t["caption"]) for t in u["top"])))
        parts.append("<p class='note'>Left: each activation alone projected to pixel space by "
                     "the deconvnet, cropped to the receptive field and contrast-normalised "
                     "(grey = 0), strongest first. Right: the image patches under those "
                     "receptive fields, in the same places.</p>")
    else:
        parts.append("<p class='dead'>This unit is dead on these %d images: no activation above "
                     "0, nothing to project.</p>" % u["n_images"])
    if u.get("filter"):
        parts.append("<h2>Filter weights (layer 1, Fig. 6)</h2><p>%s <span class='note'>"
                     "%s</span></p>" % (u["filter"], esc(u["filter_note"])))
    parts.append("<h2>Evolution during training (Fig. 4)</h2>")
    evo, script = u.get("evolution"), ""
    if evo:
        parts.append("<p><input type='range' id='evo-slider' min='0' max='%d' value='%d' "
                     "step='1' aria-label='epoch'> <span id='evo-label'></span></p>"
                     "<p><img id='evo-frame' alt='evolution frame' width='%d' height='%d'></p>"
                     "<p class='note'>The strongest activation of this unit over the run's fixed "
                     "probe set of training images, projected, after each recorded epoch (from "
                     "%s).</p>" % (len(evo["epochs"]) - 1, len(evo["epochs"]) - 1,
                                   evo["size"][1], evo["size"][0], esc(evo["source"])))
        parts.append(data_script("evo-data", {k: evo[k] for k in ("epochs", "frames", "values")}))
        script = EVOLUTION_SCRIPT
    else:
        parts.append("<p class='note'>%s</p>" % u["evolution_note"])
    parts.append("<h2>Which classes drive it (mean strongest activation per class)</h2>")
    parts.append(bars(u["class_names"], u["class_mean"], u["best_class"], u["class_images"]))
    parts.append("<p class='note'>Bars: the mean over each class's images of the unit's "
                 "strongest activation; before each, the image of that class that drives it "
                 "most, and its activation.</p>")
    parts.append("<h2>Occlusion: where in its top images it looks (Fig. 7b)</h2>")
    if u["occlusion"]:
        parts.append("<div class='row'>%s</div>" % "".join(
            "<span class='cell'>%s<br>%s</span>" % (o["html"], o["caption"])
            for o in u["occlusion"]))
        parts.append("<p class='note'>%s</p>" % u["occlusion_note"])
    else:
        parts.append("<p class='note'>No occlusion maps: the unit is dead, or none were "
                     "asked for.</p>")
    parts.append(data_script("unit-data", u["data"]))
    return page(u["title"], "".join(parts), script)
