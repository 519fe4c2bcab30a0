"""Reports rendered from a fixture result document (tests/data/sample_run/results.json).

The fixture has three servers with cells and one unavailable server (bjoern), over two scenarios:

* plaintext: wsgiref server-bound; gunicorn generator-bound with the *highest* rps; waitress failed
  verification (all figures None).
* signin: gunicorn and wsgiref server-bound; waitress generator-bound, again faster than both.

A generator-bound cell faster than the server-bound ones makes silent interleaving of ranks visible.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lab import report
from lab.results import load

SAMPLE = Path(__file__).parent / "data" / "sample_run"
DASH = "—"
FIGURE_COLUMNS = ("rps", "p50", "p90", "p99", "p99.9", "max", "failures / requests",
                  "server CPU %", "server RSS MB", "generator CPU %")


# ------------------------------------------------------------------------------------------------
# Helpers: read the tables back out of both reports.
# ------------------------------------------------------------------------------------------------


def split_md_row(line: str) -> list[str]:
    """Cells of a Markdown table row, honouring escaped pipes."""
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def md_scenario_rows(md: str, scenario: str) -> list[dict[str, str]]:
    """The result rows of one scenario's Markdown table, as dicts keyed by column title."""
    section = md.split(f"### Scenario `{scenario}`", 1)[1]
    lines = [line for line in section.strip().splitlines()]
    table = []
    for line in lines:
        if not line.startswith("|"):
            if table:
                break
            continue
        table.append(line)
    header = split_md_row(table[0])
    assert set(re.fullmatch(r"\|[-:|]+\|", table[1]).group(0)) <= set("|-:")
    return [dict(zip(header, split_md_row(line), strict=True)) for line in table[2:]]


class ResultTables(HTMLParser):
    """Collects each scenario section's result rows: {scenario: [(attrs, [cell texts])]}."""

    def __init__(self) -> None:
        super().__init__()
        self.scenarios: dict[str, list[tuple[dict, list[str]]]] = {}
        self.current: str | None = None
        self.row: tuple[dict, list[str]] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "scenario" in (attrs.get("class") or ""):
            self.current = attrs["id"].removeprefix("scenario-")
            self.scenarios[self.current] = []
        elif tag == "tr" and self.current and "data-server" in attrs:
            self.row = (attrs, [])
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row[1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.scenarios[self.current].append(self.row)
            self.row = None
        elif tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


HTML_COLUMNS = ("Rank", "Server") + FIGURE_COLUMNS + ("limit",)


def html_scenario_rows(html: str, scenario: str) -> list[dict[str, str]]:
    parser = ResultTables()
    parser.feed(html)
    rows = []
    for attrs, cells in parser.scenarios[scenario]:
        row = dict(zip(HTML_COLUMNS, cells, strict=True))
        row["group"] = attrs["data-group"]
        rows.append(row)
    return rows


def by_server(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["Server"]: row for row in rows}


def copy_sample(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(SAMPLE, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[list[Path], str, str]:
    """Write both reports once from a copy of the fixture; every test below reads them."""
    run_dir = copy_sample(tmp_path_factory.mktemp("sample"))
    paths = report.write_reports(run_dir)
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    return paths, md, html


# ------------------------------------------------------------------------------------------------
# Tests.
# ------------------------------------------------------------------------------------------------


def test_write_reports_writes_both_files_atomically(rendered):
    paths, md, html = rendered
    assert [p.name for p in paths] == ["report.md", "report.html"]
    run_dir = paths[0].parent
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.html", "report.md", "results.json"]
    for text in (md, html):
        assert "20261126T173000Z" in text
        assert "3f2a1c0" in text
        assert "AMD EPYC 7B13" in text
    assert md.index("## Caveats") < md.index("## Results") < md.index("### Scenario `plaintext`")
    assert html.index('id="caveats"') < html.index('id="results"') < html.index('id="scenario-plaintext"')
    assert md.startswith("# WSGI server benchmark")
    assert html.startswith("<!DOCTYPE html>")
    # exact command lines, shell-quoted
    cmd = ".venv/bin/gunicorn --workers 1 --threads 4 --worker-class gthread --bind 127.0.0.1:8702 --access-logfile '' app.raw:application"
    assert cmd in md
    assert cmd.replace("'", "&#39;") in html
    # server notes and unavailable servers are in the caveats
    for text in (md, html):
        assert "last release 2022" in text
        assert "libev.so.4" in text


def test_generator_bound_cell_is_a_lower_bound_in_both(rendered):
    _, md, html = rendered
    for rows in (md_scenario_rows(md, "plaintext"), html_scenario_rows(html, "plaintext")):
        gunicorn = by_server(rows)["gunicorn"]
        assert gunicorn["rps"] == "≥ 4,213"
        assert gunicorn["limit"] == "generator-bound (lower bound)"
        assert by_server(rows)["wsgiref"]["rps"] == "1,844"  # server-bound: no "≥"
    for text in (md, html):
        assert "lower bound" in text.split("Results")[0]  # explained in the caveats, up front
        assert re.search(r"plaintext / (<strong>|\*\*)gunicorn", text)  # and listed there
    # the rps chart hatches and labels it
    rps_svg = re.findall(r"<svg.*?</svg>", html, flags=re.S)[0]
    assert 'aria-label="plaintext: requests per second by server"' in rps_svg
    assert "≥ 4,213" in rps_svg and "lower bound" in rps_svg
    assert "<pattern" in rps_svg  # the hatch


def test_failed_cell_shows_its_error_and_no_invented_figure(rendered):
    _, md, html = rendered
    error = "verify failed: /plaintext body b'Hello, World!\\r\\n' is not b'Hello, World!'"
    for rows in (md_scenario_rows(md, "plaintext"), html_scenario_rows(html, "plaintext")):
        waitress = by_server(rows)["waitress"]
        assert waitress["limit"] == f"failed: {error}"
        assert waitress["Rank"] == DASH
        for column in FIGURE_COLUMNS:
            assert waitress[column] == DASH, column
        assert rows[-2]["Server"] == "waitress"  # after every measured cell, before unavailable bjoern
        assert by_server(rows)["bjoern"]["limit"].startswith("unavailable: cannot import bjoern")
    assert "failed: verify failed: /plaintext body" in html
    rps_svg = re.findall(r"<svg.*?</svg>", html, flags=re.S)[0]
    assert ">failed<" in rps_svg  # a labelled gap where the bar would be


def test_ranks_only_server_bound_cells(rendered):
    _, md, html = rendered
    expected = {
        "plaintext": {"wsgiref": "1", "gunicorn": DASH, "waitress": DASH, "bjoern": DASH},
        "signin": {"gunicorn": "1", "wsgiref": "2", "waitress": DASH, "bjoern": DASH},
    }
    for scenario, ranks in expected.items():
        for rows in (md_scenario_rows(md, scenario), html_scenario_rows(html, scenario)):
            assert {row["Server"]: row["Rank"] for row in rows} == ranks
            # ranked rows come first, in rank order; no unranked row sits between them
            ranked = [row["Rank"] for row in rows if row["Rank"] != DASH]
            assert [row["Rank"] for row in rows[: len(ranked)]] == sorted(ranked)
    groups = [row["group"] for row in html_scenario_rows(html, "signin")]
    assert groups == ["server", "server", "generator", "missing"]
    assert "Generator-bound — rps is a lower bound, not ranked" in html


def test_html_is_self_contained_with_one_svg_per_chart(rendered):
    _, _, html = rendered
    assert "<script" not in html
    assert "<link" not in html
    assert not re.search(r"\bsrc\s*=", html)
    assert "@import" not in html
    assert re.findall(r"url\(([^)]*)\)", html)  # SVG clip paths: only references inside the page
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", html))
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    for match in re.finditer(r"https?://", html):
        before = html[max(0, match.start() - 20): match.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), f"outside URL near {html[match.start() - 40: match.end() + 40]!r}"
    for match in re.finditer(r'href="([^"]*)"', html):
        assert match.group(1).startswith("#"), match.group(0)
    # three charts per scenario (throughput, latency, resources), each in its own figure
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == 6
    assert html.count("<svg") == 6
    for figure in figures:
        assert figure.count("<svg") == 1
        assert "<figcaption>" in figure
    assert len(set(re.findall(r'<clipPath id="([^"]+)"', html))) == len(re.findall(r'<clipPath id="', html))


def test_interrupted_run_says_so(tmp_path):
    run_dir = copy_sample(tmp_path)
    doc = json.loads((run_dir / "results.json").read_text())
    doc["meta"]["status"] = "interrupted"
    doc["meta"]["finished_at"] = None
    doc["cells"] = [cell for cell in doc["cells"] if cell["scenario"] == "plaintext"]
    (run_dir / "results.json").write_text(json.dumps(doc))
    report.write_reports(run_dir)
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    sentence = "This run was interrupted before it finished: only the 3 cells that finished of 8 planned"
    assert sentence in md
    assert sentence in html
    assert "> **INTERRUPTED:**" in md
    assert 'class="banner"' in html
    for rows in (md_scenario_rows(md, "signin"), html_scenario_rows(html, "signin")):
        servers = by_server(rows)
        assert servers["gunicorn"]["limit"] == "not run"
        assert servers["gunicorn"]["rps"] == DASH
        assert all(row["Rank"] == DASH for row in rows)
    assert "No resource samples were recorded for this scenario." in html


def test_complete_run_has_no_interruption_notice(rendered):
    _, md, html = rendered
    assert "interrupted" not in md.lower()
    assert "interrupted" not in html.lower()


def test_markdown_table_survives_pipes_and_newlines_in_errors():
    run = load(SAMPLE)
    failed = next(cell for cell in run.cells if not cell.ok)
    failed.error = "verify failed: /plaintext body a|b\nsecond line"
    rows = md_scenario_rows(report.render_markdown(run), "plaintext")
    assert by_server(rows)["waitress"]["limit"] == "failed: verify failed: /plaintext body a|b second line"


def test_html_escapes_document_text():
    run = load(SAMPLE)
    next(cell for cell in run.cells if not cell.ok).error = "verify failed: <script>alert(1)</script>"
    html = report.render_html(run)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_formatters_never_turn_missing_into_zero():
    assert report.format_ms(None) == DASH
    assert report.format_ms(0.41234) == "0.412"
    assert report.format_ms(0.0) == "0.000"
    assert report.format_ms(12.3456) == "12.35"
    assert report.format_ms(1003.417) == "1,003.4"
    assert report.format_rps(None, lower_bound=True) == DASH
    assert report.format_rps(4212.88, lower_bound=True) == "≥ 4,213"
    assert report.format_rps(42.26) == "42.3"
    assert report.format_pct(None) == DASH
    assert report.format_mb(None) == DASH
    assert report.format_failures(None, None) == DASH
    assert report.format_failures(0, 1234) == "0 / 1,234"
    assert report.format_cpus([3, 0, 1, 2, 6]) == "0-3, 6"
    assert report.format_cpus([]) == "not pinned"
    assert report.format_command(["gunicorn", "--access-logfile", "", "app:a b"]) == "gunicorn --access-logfile '' 'app:a b'"
