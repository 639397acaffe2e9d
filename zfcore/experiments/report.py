"""``report.html``: the experiments of Z&F Sec. 5 as they were run (tables, figures, the
protocol of each), beside the paper's own rows, marked as ImageNet / Caltech / PASCAL figures,
and the paper's qualitative findings checked on ours (``findings``)."""
import html
import json
import os

from zfcore.atomic import atomic_path
from zfcore.experiments import ablation, paper, probes, transfer
from zfcore.vis.report import Report

EXPERIMENTS = ("ablation", "transfer", "probes")


def load(root):
    """{experiment: results.json} of the experiments run under ``root``."""
    out = {}
    for name in EXPERIMENTS:
        path = os.path.join(root, name, "results.json")
        if os.path.exists(path):
            with open(path) as f:
                out[name] = json.load(f)
    return out


def pct(m, s=None):
    if m is None or m != m:
        return "–"
    return "%.1f" % (100 * m) if s is None else "%.1f ± %.1f" % (100 * m, 100 * s)


def _table(header, rows, cls=""):
    out = ["<table%s><tr>%s</tr>" % (" class='%s'" % cls if cls else "",
                                     "".join("<th>%s</th>" % html.escape(h) for h in header))]
    for row in rows:
        out.append("<tr>%s</tr>" % "".join("<td>%s</td>" % html.escape(str(c)) for c in row))
    out.append("</table>")
    return "".join(out)


def _protocol(proto):
    keep = {k: v for k, v in proto.items() if k not in ("experiment",)}
    return ("<details><summary>protocol (%s)</summary><pre>%s</pre></details>"
            % (html.escape(proto.get("experiment", "")),
               html.escape(json.dumps(keep, indent=1, sort_keys=True))))


def _reference(title, table):
    return ("<p class='note'>Reference only, from the paper (%s): %s.</p>%s"
            % (html.escape(paper.SOURCE), html.escape(title), table))


# -- the findings ---------------------------------------------------------------------------

def findings(results):
    """The paper's qualitative claims checked on our numbers: a list of sentences."""
    out = []
    ab = results.get("ablation")
    if ab:
        rows = {r["variant"]: r for r in ab["rows"] if r["seeds"]}
        base = rows.get("base")
        single = [v for v in ("no-7", "no-6-7", "no-3-4") if v in rows]
        if base and single and "no-3-4-6-7" in rows:
            worst = max(single, key=lambda v: rows[v]["val_top1_err"])
            cost = 100 * (rows[worst]["val_top1_err"] - base["val_top1_err"])
            deep = 100 * (rows["no-3-4-6-7"]["val_top1_err"] - base["val_top1_err"])
            out.append("Depth against single layers: removing %s costs at most %+.1f points of "
                       "val top-1 error (%s), removing layers 3, 4, 6 and 7 together %+.1f "
                       "points: %s (the paper, Table 3, on its replication of Krizhevsky "
                       "et al.'s net on ImageNet: at most +4.9, layers 3,4, against +30.8)."
                       % (", ".join(single), cost, worst, deep,
                          "depth matters more than any single layer" if deep > cost
                          else "NOT the paper's finding here"))
        if base and "no-renorm" in rows:
            out.append("Without renormalisation the strongest layer-1 filter holds %.0f%% of "
                       "the layer's energy (renormalised: %.0f%%; equal filters would hold "
                       "%.0f%%)." % (100 * rows["no-renorm"]["layer1_strongest_share"],
                                     100 * base["layer1_strongest_share"],
                                     100.0 / base["layer1_filters"]))
    tr = results.get("transfer")
    if tr:
        by = {(r["arm"], r["k"]): r for r in tr["rows"] if r["splits"]}
        ks = sorted({k for _, k in by})
        gains = [(k, by[("pretrained", k)]["accuracy"] - by[("scratch", k)]["accuracy"])
                 for k in ks if ("pretrained", k) in by and ("scratch", k) in by]
        if gains:
            small = [g for k, g in gains if k <= 5] or [gains[0][1]]
            mean = sum(small) / len(small)
            out.append("Pretrained features against training from scratch (accuracy points, "
                       "pretrained minus scratch): %s. At k <= 5 the pretrained net is %s by "
                       "%.1f points on average (the paper, Caltech-101 at 15 a class: 83.8%% "
                       "against 22.8%%)."
                       % ("; ".join("k=%d: %+.1f" % (k, 100 * g) for k, g in gains),
                          "ahead" if mean > 0 else "behind (NOT the paper's finding)",
                          100 * abs(mean)))
    pr = results.get("probes")
    if pr:
        for clf in dict.fromkeys(r["classifier"] for r in pr["rows"]):
            accs = [(r["layer"], r["accuracy"]) for r in pr["rows"] if r["classifier"] == clf]
            rises = sum(b > a for (_, a), (_, b) in zip(accs, accs[1:]))
            best = max(accs, key=lambda t: t[1])
            out.append("Probe accuracy with depth (%s): %s; it rises at %d of %d steps, "
                       "best at layer %s%s." % (
                           clf, ", ".join("%s %.0f%%" % (lb, 100 * a) for lb, a in accs),
                           rises, len(accs) - 1, best[0],
                           " (the deepest beats the pixels by %.0f points)"
                           % (100 * (accs[-1][1] - accs[0][1]))))
    return out


# -- the page -------------------------------------------------------------------------------

def ablation_section(rep, res, root):
    proto = res["protocol"]
    rep.heading("Ablation and resizing of the layers (Z&F Sec. 5.1, Table 3)")
    rep.html("<p>Ours: %s, %d classes, %s; every variant trained from scratch with the same "
             "budget (%s), seeds %s (the seeds column: how many are done): mean ± standard "
             "deviation of the error (%%) over them.</p>"
             % (html.escape(proto["data"]), len(proto["trained_classes"]),
                html.escape(proto["arch"]) + " at width %g"
                % proto["width"], html.escape(json.dumps(proto["budget"])),
                ", ".join(map(str, proto["seeds"]))))
    rows = [(r["variant"], r["paper"], "{:,}".format(r["params"]), r["seeds"],
             pct(r["train_top1_err"], r["train_top1_err_std"]),
             pct(r["val_top1_err"], r["val_top1_err_std"]),
             pct(r["val_top5_err"], r["val_top5_err_std"]),
             pct(r["layer1_strongest_share"])) for r in res["rows"]]
    rep.html(_table(["variant", "the paper's row", "parameters", "seeds", "train top-1 err",
                     "val top-1 err", "val top-5 err", "strongest layer-1 filter's energy %"],
                    rows))
    rep.html(_protocol(proto))
    fig = os.path.join("ablation", "figures", "layer1_renorm.png")
    if os.path.exists(os.path.join(root, fig)):
        rep.figure(fig, "Layer-1 filters with and without the RMS renormalisation of Sec. 3 "
                   "(first seed), each net on its own scale, and the share of the layer's "
                   "energy per filter (Fig. 6a: without it one feature dominates).")
    rep.html(_reference("ImageNet 2012 classification error (%), Table 3; " + paper.TABLE3_NOTE,
                        _table(["ImageNet 2012 (the paper)", "train top-1", "val top-1",
                                "val top-5"], paper.TABLE3, "paper")))


def transfer_section(rep, res, root):
    proto = res["protocol"]
    rep.heading("Transfer by retraining the softmax (Z&F Sec. 5.2, Fig. 9)")
    rep.html("<p>Ours: pretrained on %d source classes (%s; val top-1 error of the pretrained "
             "net %s%%), layers 1-7 then kept fixed and a new softmax trained on k images of "
             "each of %d target classes; against the same net not pretrained, trained end to "
             "end on the same images. Mean per-class accuracy (%%) on %d target test images, "
             "mean ± standard deviation over the random splits done (of %d planned).</p>"
             % (len(proto["source_classes"]), html.escape(", ".join(proto["source_classes"])),
                pct((res.get("pretrain") or {}).get("val_top1_err")),
                len(proto["target_classes"]), proto["test_images"], proto["splits"]))
    by = {(r["arm"], r["k"]): r for r in res["rows"]}
    ks = sorted({r["k"] for r in res["rows"]})
    rows = []
    for k in ks:
        p, s = by.get(("pretrained", k)), by.get(("scratch", k))
        rows.append((k, pct(p["accuracy"], p["accuracy_std"]) if p else "–",
                     pct(s["accuracy"], s["accuracy_std"]) if s else "–",
                     "%+.1f" % (100 * (p["accuracy"] - s["accuracy"])) if p and s else "–",
                     p["splits"] if p else 0))
    rep.html(_table(["k per class", "pretrained, softmax retrained", "not pretrained",
                     "difference (points)", "splits"], rows))
    fig = os.path.join("transfer", "figures", "transfer.png")
    if os.path.exists(os.path.join(root, fig)):
        rep.figure(fig, "Mean per-class accuracy against the number of training images per "
                   "class, pretrained against not pretrained (error bars: the spread over the "
                   "splits; the paper's Fig. 9).")
    rep.html(_protocol(proto))
    c101 = [(name,) + tuple(v[k] for k in (15, 30)) for name, v in paper.TABLE4_CALTECH101]
    c256 = [(name,) + tuple(v[k] for k in (15, 30, 45, 60)) for name, v in
            paper.TABLE5_CALTECH256]
    rep.html(_reference("Caltech-101 and Caltech-256 mean per-class accuracy (%), Tables 4 "
                        "and 5",
                        _table(["Caltech-101 (the paper)", "15 per class", "30 per class"],
                               c101, "paper")
                        + "<br>" + _table(["Caltech-256 (the paper)", "15", "30", "45", "60"],
                                          c256, "paper")))
    rep.html(_reference("PASCAL VOC 2012 test set, mean over the 20 classes (%, the paper's "
                        "'Acc %' column), Table 6",
                        _table(["PASCAL 2012 (the paper)", "mean of the 20 classes"],
                               paper.TABLE6_PASCAL, "paper")))


def probes_section(rep, res, root):
    proto = res["protocol"]
    rep.heading("Linear probes of each layer (Z&F Sec. 5.3, Table 7)")
    rep.html("<p>Ours: features of each layer of the pretrained net (%s; layer 0 the pixels), "
             "a linear SVM and a softmax (logistic regression) trained on %d images of each of "
             "%d target classes; mean per-class accuracy (%%) on %d test images, mean ± "
             "standard deviation over the splits done (%d of %d planned).</p>"
             % ("after the ReLU" if proto["at"] == "relu" else "after the pool where there is "
                "one", proto["k_run"], len(proto["target_classes"]), proto["test_images"],
                max((r["splits"] for r in res["rows"]), default=0), proto["splits"]))
    layers = list(dict.fromkeys(r["layer"] for r in res["rows"]))
    clfs = list(dict.fromkeys(r["classifier"] for r in res["rows"]))
    by = {(r["layer"], r["classifier"]): r for r in res["rows"]}
    rows = [(lb, by[(lb, clfs[0])]["name"]) + tuple(
        pct(by[(lb, c)]["accuracy"], by[(lb, c)]["accuracy_std"]) for c in clfs)
        for lb in layers]
    rep.html(_table(["layer", "output of"] + clfs, rows))
    fig = os.path.join("probes", "figures", "probes.png")
    if os.path.exists(os.path.join(root, fig)):
        rep.figure(fig, "Probe accuracy per layer (error bars: the spread over the splits).")
    rep.html(_protocol(proto))
    rep.html(_reference("Caltech-101 (30 per class) and Caltech-256 (60 per class) mean "
                        "per-class accuracy (%), Table 7",
                        _table(["classifier (layer), the paper", "Caltech-101", "Caltech-256"],
                               paper.TABLE7, "paper")))


def write(root, name="report.html"):
    """Write ``root/report.html`` from the units done there (each experiment's table and
    figures rebuilt first, so a run cut short shows what it has); returns its path (None when
    no experiment has results)."""
    for module in (ablation, transfer, probes):
        module.summarise(root)
    results = load(root)
    if not results:
        return None
    rep = Report("Z&F Sec. 5 experiments: ablation, transfer, probes")
    rep.html("<p>Our numbers come from the runs under this folder, on the data their protocol "
             "names. The tables marked <span class='note'>reference only</span> are the "
             "paper's, on ImageNet, Caltech and PASCAL with the full-size net: compare their "
             "shape, not their values.</p>")
    found = findings(results)
    if found:
        rep.heading("The paper's findings, checked on ours")
        rep.html("<ul>%s</ul>" % "".join("<li>%s</li>" % html.escape(f) for f in found))
    for exp, section in (("ablation", ablation_section), ("transfer", transfer_section),
                         ("probes", probes_section)):
        if exp in results:
            section(rep, results[exp], root)
    path = os.path.join(root, name)
    with atomic_path(path) as tmp:
        rep.write(root, name=os.path.basename(tmp))
    return path
