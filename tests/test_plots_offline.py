"""`dvc plots show` renders offline: the page DVC writes (with `.dvc/config`'s
`plots.html_template`, i.e. its default options) carries Vega inline, loads nothing from a
CDN, and in a headless browser every plot draws -- the training curves included, which
render blank with DVC's own page on a machine without the internet."""
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, run
from test_pipeline import DVC
from tunepipe import plots

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_template_inlines_vega_and_loads_no_script_from_the_network():
    page = plots.template()
    assert "{plot_divs}" in page and "{scripts}" not in page      # DVC's CDN script tags are dropped
    assert "window.vegaEmbed" in page
    assert not re.search(r"<script[^>]+src=", page)
    assert page.count("<script") == 1 and "</script" not in page.split("<script>", 1)[1].rsplit("</script>", 1)[0]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (.ci/run installs Debian's chromium)")
def test_dvc_plots_show_renders_every_plot_in_a_headless_browser(tmp_path):
    plots.write_template(ROOT / ".dvc" / "plots" / "offline.html")   # what make setup writes
    out = tmp_path / "plots"
    run(DVC + ["plots", "show", "-o", str(out)], ROOT)   # the committed baseline's plots; default options
    html = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and not re.search(r"<script[^>]+src=", html)
    n = html.count("vegaEmbed('#")
    assert n >= 10, n   # sft and grpo curves (dvclive) and the accuracy bars
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom",
                        (out / "index.html").as_uri()], capture_output=True, text=True, timeout=180)
    dom = p.stdout
    drawn = len(re.findall(r'<svg[^>]*class="marks"', dom)) + len(re.findall(r'<canvas[^>]*class="marks"', dom))
    assert drawn == n, (drawn, n, p.stderr[-2000:])
    assert "metrics/sft/plots/metrics/loss.tsv" in html and "metrics/grpo/plots/metrics/reward.tsv" in html
