"""The reports opened in a real browser: headless Chromium parses them, draws them, and logs nothing.

Two fixtures: the concurrency sweep, and the workload run (configurations swept by workers ×
threads, resource columns, noise floor, which server for which workload, CPU-per-request charts
and the conformance probe matrix).

``report.html`` has no script, so the DOM Chromium builds must hold every chart the report made,
each inside its own ``<figure>``, and the console must stay silent.  Chromium's own noise on a
machine without a desktop session (D-Bus, GPU, VA-API, sandbox warnings) does not concern the page
and is ignored; console messages, uncaught exceptions and errors that name the page are not.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lab.report import charts as lab_charts
from lab import report
from lab.results import load

SWEEP = Path(__file__).parent / "data" / "sweep_run"
WORKLOAD = Path(__file__).parent / "data" / "workload_run"
#: Each fixture, the charts its report has, and one chart label and section id it must show.
REPORTS = {
    # per scenario: 2 sweep curves, throughput and latency bars, 1 timeline
    "sweep": (SWEEP, 12, "signin: throughput by concurrent users, per server", "scenario-signin"),
    # per scenario: the same, plus server CPU per request
    "workload": (WORKLOAD, 21, "plaintext at 32 users: server CPU per request by server", "probes"),
}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120
WINDOW = (1400, 6000)

#: Log lines about the page itself: console output (``INFO:CONSOLE``), uncaught exceptions, and
#: errors from Blink, V8 or the renderer (the page's parser, script engine and layout).
PAGE_ERROR = re.compile(r"CONSOLE|Uncaught|:ERROR:[^\]]*(blink|v8|renderer|content/renderer)", re.I)


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed: apt-get install chromium")


def run_chromium(url: str, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url`` with its own throw-away profile, bounded by ``TIMEOUT_S``."""
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--no-first-run", "--no-default-browser-check", *flags, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)


def page_errors(stderr: str, page: Path) -> list[str]:
    """Lines of Chromium's log that concern the page: see ``PAGE_ERROR``, plus any error naming it."""
    return [line for line in stderr.splitlines()
            if PAGE_ERROR.search(line) or (":ERROR:" in line and (page.name in line or page.as_uri() in line))]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module", params=list(REPORTS))
def sweep_report(request, tmp_path_factory) -> tuple[Path, int, str, str]:
    """A fixture rendered into a temporary run folder, how many charts it made, and one chart
    label and section id its page must show."""
    source, expected, label, section = REPORTS[request.param]
    run_dir = tmp_path_factory.mktemp("browser") / "run"
    shutil.copytree(source, run_dir)
    report.write_reports(run_dir)
    charts = lab_charts.chart_count(lab_charts.charts(load(run_dir)))
    assert charts == expected
    return run_dir / "report.html", charts, label, section


def test_every_chart_is_in_the_dom_inside_its_figure(sweep_report, tmp_path):
    page, charts, label, section = sweep_report
    result = run_chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-3000:]
    dom = result.stdout
    assert dom.lstrip().lower().startswith("<!doctype html>") or dom.lstrip().startswith("<html")
    assert "Scenario" in dom and f'id="{section}"' in dom
    assert len(re.findall(r"<svg\b", dom)) == charts
    figures = re.findall(r"<figure\b[^>]*>(.*?)</figure>", dom, flags=re.S)
    assert len(figures) == charts
    for figure in figures:
        assert len(re.findall(r"<svg\b", figure)) == 1
        assert re.search(r"<figcaption>.+?</figcaption>", figure, flags=re.S)
        assert "</svg>" in figure  # the whole chart was parsed, not cut short
    labels = re.findall(r'<svg\b[^>]*aria-label="([^"]+)"', dom)
    assert len(labels) == charts
    assert label in labels


def test_page_renders_without_console_errors(sweep_report, tmp_path):
    page, _, _, _ = sweep_report
    shot = page.parent / "report.png"
    result = run_chromium(page.as_uri(), tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                          f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert page_errors(result.stderr, page) == []
    assert shot.is_file()
    assert png_size(shot) == WINDOW
    assert shot.stat().st_size > 100_000  # a blank page of this size compresses to a few kB


def test_the_console_check_catches_a_page_error(tmp_path):
    """The filter above is not vacuous: a page that logs and throws is caught, by these lines."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><svg width="9" height="9"></svg>'
                    '<script>console.error("broken chart"); notDefined();</script></body></html>')
    result = run_chromium(page.as_uri(), tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                          f"--screenshot={tmp_path / 'broken.png'}", "--window-size=400,300")
    errors = page_errors(result.stderr, page)
    assert any("broken chart" in line for line in errors), result.stderr[-3000:]
    assert any("Uncaught ReferenceError" in line for line in errors), result.stderr[-3000:]


#: The first screen a reader sees: the verdict table and its capacity chart must fit in it.
FIRST_SCREEN = (1400, 900)
MEASURE = """<script>
addEventListener("load", () => {
  const row = document.querySelector(".verdict-row");
  const box = el => el ? Math.round(el.getBoundingClientRect().bottom) : -1;
  document.body.insertAdjacentHTML("beforeend", '<pre id="measured">' + JSON.stringify(
    {table: box(row && row.querySelector("table.verdict")), chart: box(row && row.querySelector("figure.capacity svg"))})
    + "</pre>");
});
</script>"""


def test_verdict_table_and_capacity_chart_fill_the_first_screen(tmp_path):
    """On a 1400×900 first screen, the first scenario's verdict table and its capacity chart are
    whole; a screenshot is kept beside the report for a person to look at."""
    run_dir = tmp_path / "run"
    shutil.copytree(WORKLOAD, run_dir)
    report.write_reports(run_dir)
    page = run_dir / "report.html"
    measured = run_dir / "measured.html"  # the report plus a script that measures it (the report has none)
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    size = f"--window-size={FIRST_SCREEN[0]},{FIRST_SCREEN[1]}"
    dom = run_chromium(measured.as_uri(), tmp_path / "profile", size, "--virtual-time-budget=5000", "--dump-dom")
    found = re.search(r'<pre id="measured">(\{.*?\})</pre>', dom.stdout)
    assert found, dom.stderr[-2000:]
    bottoms = json.loads(found.group(1))
    assert 0 < bottoms["table"] <= FIRST_SCREEN[1], bottoms
    assert 0 < bottoms["chart"] <= FIRST_SCREEN[1], bottoms
    run_chromium(page.as_uri(), tmp_path / "profile2", size, "--hide-scrollbars", f"--screenshot={run_dir / 'first-screen.png'}")
    assert (run_dir / "first-screen.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
