"""The unit atlas in a real browser: headless Chromium (Debian's ``chromium``, or
``$ZFCORE_CHROMIUM``) driven through Playwright opens the index from the file system, follows a
layer link and a unit link, sorts and filters the layer page, moves the epoch slider, and checks
that every image loaded and the console logged no error. Skipped only when no Chromium is found
(``.ci/run`` installs it)."""
import os
import shutil

import pytest

from tests.vis.test_atlas import tiny_atlas
from zfcore.vis.atlas import atlas_layers


def chromium():
    for cand in (os.environ.get("ZFCORE_CHROMIUM"), shutil.which("chromium"),
                 shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if cand and os.path.exists(cand):
            return cand
    return None


ALL_IMAGES_LOADED = ("() => Array.from(document.images).map(i => [i.getAttribute('src')"
                     ".slice(0, 40), i.complete && i.naturalWidth > 0])")


@pytest.fixture(scope="module")
def browser():
    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set ZFCORE_CHROMIUM)")
    from playwright.sync_api import sync_playwright      # the test extra: pip install '.[test]'
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def loaded(page):
    page.wait_for_load_state("load")
    images = page.evaluate(ALL_IMAGES_LOADED)
    assert images and all(ok for _, ok in images), [src for src, ok in images if not ok]
    return len(images)


def test_the_atlas_in_headless_chromium(browser, tmp_path):
    net, _, rec, out, _ = tiny_atlas(str(tmp_path), n=16, k=9, n_occlude=1)
    conv, act = atlas_layers(net)[1]                       # conv2, measured at relu2
    unit = int(rec.maps[act][0])                           # a unit with an evolution history
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto("file://" + os.path.abspath(os.path.join(out, "index.html")))
    assert page.title() == "zfcore unit atlas"
    assert page.locator("table tr").count() == 1 + len(atlas_layers(net))
    page.click("a[href='%s/index.html']" % conv)
    assert page.url.endswith("/%s/index.html" % conv)
    assert loaded(page) == 12                               # one thumbnail per unit

    def shown():
        return page.evaluate("() => Array.from(document.querySelectorAll('#units .card'))"
                             ".filter(c => !c.hidden).map(c => [+c.dataset.unit, "
                             "+c.dataset.act, c.dataset.cls])")

    assert [u for u, _, _ in shown()] == list(range(12))
    page.select_option("#sort", "act")
    acts = [a for _, a, _ in shown()]
    assert acts == sorted(acts, reverse=True) and len(acts) == 12
    cls = shown()[0][2]
    page.fill("#filter", cls)
    assert shown() and all(c == cls for _, _, c in shown())
    assert page.inner_text("#shown") == "%d of 12 units shown" % len(shown())
    page.fill("#filter", "")
    page.select_option("#sort", "unit")

    page.click("a[href='%03d.html']" % unit)
    assert page.url.endswith("/%s/%03d.html" % (conv, unit))
    loaded(page)
    frame = page.locator("#evo-frame")
    first = (frame.get_attribute("src"), page.inner_text("#evo-label"))
    assert first[1].startswith("epoch 3 (3 of 3)")
    page.focus("#evo-slider")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    now = (frame.get_attribute("src"), page.inner_text("#evo-label"))
    assert now[1].startswith("epoch 1 (1 of 3)") and now[0] != first[0]
    assert page.evaluate("() => document.getElementById('evo-frame').naturalWidth") > 0
    page.click("text=unit %03d >" % (unit + 1))
    assert page.url.endswith("/%s/%03d.html" % (conv, unit + 1))
    loaded(page)
    page.click("text=< layer conv1")
    assert page.url.endswith("/conv1/index.html")
    loaded(page)
    assert problems == []
