"""report.html and compare.html in a real browser: headless Chromium opens the files.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright``
package, which drives that binary (it downloads no browser). Without them the
browser tests skip with the reason; under CI (``CI=true``) they fail instead,
so CI always runs them (``.ci/run`` installs chromium).
"""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from experiments import config as cfg
from experiments.analysis import dashboard_views as views
from experiments.analysis.build import load_tables
from experiments.cli import main
from experiments.runner import run_sweep

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]
TINY = {"name": "tiny", "hidden": [8, 8], "epochs": 3, "train_size": 200, "test_size": 100, "probe_size": 32,
        "activations": ["relu", "sigmoid"], "inits": ["he_normal", "book"], "lrs": [0.1, 1.0], "seeds": [0, 1]}


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The tiny grid under exact backprop and under the book's rule, built by real sweeps."""
    root = tmp_path_factory.mktemp("sweeps")
    for rule in ("exact", "book"):
        run_sweep(cfg.parse({**TINY, "backprop": rule}), root / rule, jobs=1, progress=False)
    # one initializer: the heatmap has one panel
    run_sweep(cfg.parse({**TINY, "name": "one_panel", "inits": ["he_normal"], "seeds": [0], "epochs": 1}),
              root / "one_panel", jobs=1, progress=False)
    return root


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh headless Chromium context (own user-data-dir)."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path, why = None, "the playwright package is not installed (pip install -e '.[test]')"
    else:
        why = "no chromium on PATH (Debian: apt-get install chromium)"
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI: {why}")
        pytest.skip(why)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=path, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


def open_page(browser, path):
    """Open ``path`` from a file:// URL; returns (page, console errors, which grows)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page, errors


def test_every_sweep_writes_report_html(sweeps):
    text = (sweeps / "exact" / "report.html").read_text()
    assert "<script src" not in text and 'id="page-data"' in text


def test_dashboard_in_chromium(browser, sweeps, tmp_path):
    tables = load_tables(sweeps / "exact")
    runs = tables.runs.reset_index(drop=True)
    info = views.heatmap_info(tables)
    page, errors = open_page(browser, sweeps / "exact" / "report.html")
    for view in ("#heatmap", "#parcoords", "#panel-plots > div"):
        page.wait_for_selector(f"{view} .main-svg", timeout=30_000)

    def shown_runs() -> set[str]:
        return set(filter(None, page.get_attribute("#run-panel", "data-runs").split(",")))

    # opened: the best cell is selected and its runs (every seed) drawn
    best = views.cell_runs_info(tables, info, info.best)
    assert shown_runs() == set(runs["run_id"].iloc[best.run_index]) and len(best.run_index) == 2
    assert page.locator("#panel-plots .main-svg").count() >= 3

    # click another cell of the first panel: the run panel shows that cell's runs
    target = next((0, r, c) for r in range(len(info.rows)) for c in range(len(info.cols)) if (0, r, c) != info.best)
    row, col = info.rows[target[1]], format(info.cols[target[2]], "g")
    x, y = page.evaluate("""([row, col]) => {
        const gd = document.getElementById('heatmap'), fl = gd._fullLayout, box = gd.getBoundingClientRect();
        const rows = JSON.parse(gd.dataset.rows), cols = JSON.parse(gd.dataset.cols);
        return [box.left + fl.xaxis._offset + fl.xaxis.l2p(cols.indexOf(col)),
                box.top + fl.yaxis._offset + fl.yaxis.l2p(rows.indexOf(row))];
    }""", [row, col])
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    expected = views.cell_runs_info(tables, info, target)
    page.wait_for_function("ids => document.getElementById('run-panel').dataset.runs.split(',').sort().join(',') === ids",
                           arg=",".join(sorted(runs["run_id"].iloc[expected.run_index])), timeout=10_000)
    assert shown_runs() == set(runs["run_id"].iloc[expected.run_index])
    assert all(label in page.inner_text("#cell-title") for label in expected.labels)

    # a filter: untick sigmoid; the runs table shrinks to the relu runs, the heatmap to one row
    before = page.locator("#runs-table tbody tr").count()
    page.click("#filter-activation-0")  # sigmoid comes first (nn.ACTIVATIONS order)
    page.wait_for_function("document.querySelectorAll('#runs-table tbody tr').length < %d" % before)
    assert page.locator("#runs-table tbody tr").count() == int((runs["activation"] == "relu").sum()) < before
    assert page.get_attribute("#heatmap", "data-rows") == '["relu"]'
    assert "8 of 16 runs shown" in page.inner_text("#visible-count")

    # brush the parallel coordinates (accuracy above the middle of relu's): the runs table follows
    acc_axis = [d.label for d in views.parcoords_info(tables).dimensions].index("final test accuracy")
    acc = runs.loc[runs["activation"] == "relu", "test_acc"].round(4)  # the page holds 4 digits
    low = (acc.min() + acc.max()) / 2
    want = int((acc >= low).sum())
    assert 0 < want < len(acc)
    page.evaluate("([k, low]) => Plotly.restyle('parcoords', {[`dimensions[${k}].constraintrange`]: [[low, 1]]})",
                  [acc_axis, low])
    page.wait_for_function("n => document.querySelectorAll('#runs-table tbody tr').length === n", arg=want)

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000
    assert errors == []


def test_pooling_is_offered_only_with_several_panels(browser, sweeps):
    for name, panels in (("exact", ["init"]), ("one_panel", [])):
        assert list(views.heatmap_info(load_tables(sweeps / name)).facets) == panels
        page, errors = open_page(browser, sweeps / name / "report.html")
        page.wait_for_selector("#heatmap .main-svg", timeout=30_000)
        assert page.locator("#pool-facets").is_visible() == bool(panels), name
        if panels:
            assert "one cell = every value of init" in page.inner_text("label:has(#pool-facets)")
        assert errors == []
        page.close()


def test_compare_in_chromium(browser, sweeps, tmp_path):
    assert main(["compare", str(sweeps / "exact"), str(sweeps / "book"), "--out", str(tmp_path)]) == 0
    cells = pd.read_csv(tmp_path / "compare.csv")
    assert len(cells) == 8 and set(cells["interval"]) == {"paired"}
    assert "| backprop | exact | book |" in (tmp_path / "compare.md").read_text()
    page, errors = open_page(browser, tmp_path / "compare.html")
    page.wait_for_selector("#scatter .main-svg")
    assert page.locator("#cells-table tbody tr").count() == 8
    assert errors == []
