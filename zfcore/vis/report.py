"""``report.html``: every figure of a folder with a caption, and the numbers beside them."""
import glob
import html
import os

from zfcore.atomic import atomic_write

STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ccc}figcaption{font-size:.9em;color:#444}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee}.note{color:#a33}"""


class Report:
    """Sections of figures (path relative to the report, caption) and HTML blocks, in order."""

    def __init__(self, title):
        self.title = title
        self.items = []

    def heading(self, text):
        self.items.append(("h2", text))

    def figure(self, path, caption):
        self.items.append(("figure", (path, caption)))

    def html(self, block):
        self.items.append(("html", block))

    def note(self, text):
        self.items.append(("note", text))

    def write(self, out_dir, name="report.html"):
        """Write ``out_dir/name`` (whole, then renamed); any PNG under ``out_dir`` that no
        section shows is added at the end, so the page shows every figure there is. Returns the
        path."""
        shown = {os.path.normpath(p) for kind, v in self.items if kind == "figure" for p in [v[0]]}
        extra = [os.path.relpath(p, out_dir)
                 for p in sorted(glob.glob(os.path.join(out_dir, "**", "*.png"), recursive=True))]
        extra = [p for p in extra if os.path.normpath(p) not in shown]
        parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title>"
                 "<style>%s</style></head><body><h1>%s</h1>"
                 % (html.escape(self.title), STYLE, html.escape(self.title))]
        items = list(self.items)
        if extra:
            items.append(("h2", "Other figures"))
            items += [("figure", (p, p)) for p in extra]
        for kind, v in items:
            if kind == "h2":
                parts.append("<h2>%s</h2>" % html.escape(v))
            elif kind == "figure":
                path, caption = v
                src = html.escape(path.replace(os.sep, "/"), quote=True)
                parts.append("<figure><a href='%s'><img src='%s' alt='%s'></a>"
                             "<figcaption>%s</figcaption></figure>"
                             % (src, src, html.escape(caption, quote=True), html.escape(caption)))
            elif kind == "note":
                parts.append("<p class='note'>%s</p>" % html.escape(v))
            else:
                parts.append(v)
        parts.append("</body></html>")
        path = os.path.join(out_dir, name)
        with atomic_write(path, "w") as f:      # a report read mid-write is the old one, whole
            f.write("\n".join(parts))
        return path
