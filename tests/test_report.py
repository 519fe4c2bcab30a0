"""Reports rendered from fixture result documents.

``tests/data/sample_run`` is a single-step run (32 users, one round, no wrk): three servers with
cells and one unavailable server (bjoern), over two scenarios:

* plaintext: wsgiref server-bound; gunicorn generator-bound with the *highest* rps; waitress failed
  verification (all figures None).
* signin: gunicorn and wsgiref server-bound; waitress generator-bound, again faster than both.

A generator-bound cell faster than the server-bound ones makes silent interleaving of ranks visible.

``tests/data/sweep_run`` is a concurrency sweep: bjoern, gunicorn and waitress × plaintext and
signin × 1, 8 and 32 users, 3 rounds per cell.  wrk ran on plaintext only (bjoern has by far the
highest wrk peak, so locust's rps against bjoern is the generator's ceiling at each step): bjoern and
gunicorn reach the ceiling at 1 user, bjoern at 8, both at 32 (bjoern is also CPU-bound there).
waitress plaintext at 8 users is noisy (CV 7.6 %); waitress signin has a knee at 8 users (p99 4.9 ms
-> 21.7 ms at 32); gunicorn signin failed at 32 users.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lab import report, stats
from lab.report import charts, figures, render
from lab.report import rows as tables
from lab.report import verdicts as judgements
from lab.results import Run, load

SAMPLE = Path(__file__).parent / "data" / "sample_run"
SWEEP = Path(__file__).parent / "data" / "sweep_run"
DASH = "—"
FIGURE_COLUMNS = ("rps", "p50", "p99", "p99.9", "max", "failures")


# ------------------------------------------------------------------------------------------------
# Helpers: read the tables back out of both reports.
# ------------------------------------------------------------------------------------------------


def split_md_row(line: str) -> list[str]:
    """Cells of a Markdown table row, honouring escaped pipes."""
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def md_table(lines: list[str]) -> list[dict[str, str]]:
    """The first Markdown table in ``lines``, as dicts keyed by column title."""
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


def md_section(md: str, scenario: str, users: int | None = None) -> str:
    """One scenario's Markdown section, or one users step's part of it."""
    section = md.split(f"### Scenario `{scenario}`", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    if users is not None:
        section = section.split(f"#### `{scenario}` at {users} user", 1)[1].split("\n#### ", 1)[0]
    return section


def md_scenario_rows(md: str, scenario: str, users: int | None = None) -> list[dict[str, str]]:
    """The result rows of one scenario's Markdown table (at one users step in a sweep)."""
    return md_table(md_section(md, scenario, users).strip().splitlines())


class ResultTables(HTMLParser):
    """Collects each scenario section's result rows: {scenario: [(attrs, {column: text})]}.

    Columns are read from each results table's own header, so a missing or extra column shows.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scenarios: dict[str, list[tuple[dict, dict[str, str]]]] = {}
        self.current: str | None = None
        self.header: list[str] = []
        self.in_results = False
        self.in_head = False
        self.row: tuple[dict, list[str]] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "scenario" in (attrs.get("class") or ""):
            self.current = attrs["id"].removeprefix("scenario-")
            self.scenarios[self.current] = []
        elif tag == "table":
            self.in_results = "results" in (attrs.get("class") or "")
            self.header = []
        elif tag == "thead" and self.in_results:
            self.in_head = True
        elif tag == "th" and self.in_head:
            self.cell = []
        elif tag == "tr" and self.current and self.in_results and "data-server" in attrs:
            self.row = (attrs, [])
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        text = " ".join("".join(self.cell or []).split())
        if tag == "th" and self.in_head and self.cell is not None:
            self.header.append(text)
            self.cell = None
        elif tag == "thead":
            self.in_head = False
        elif tag == "td" and self.cell is not None and self.row is not None:
            self.row[1].append(text)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            attrs, cells = self.row
            self.scenarios[self.current].append((attrs, dict(zip(self.header, cells, strict=True))))
            self.row = None
        elif tag == "table":
            self.in_results = False
        elif tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


HTML_COLUMNS = ("Server",) + FIGURE_COLUMNS + ("limit",)


def html_scenario_rows(html: str, scenario: str, users: int | None = None) -> list[dict[str, str]]:
    """The result rows of one scenario's HTML table (at one users step in a sweep)."""
    parser = ResultTables()
    parser.feed(html)
    rows = []
    for attrs, cells in parser.scenarios[scenario]:
        if users is not None and attrs["data-users"] != str(users):
            continue
        row = dict(cells)
        row["group"] = attrs["data-group"]
        rows.append(row)
    return rows


def by_server(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["Server"]: row for row in rows}


def chart_svg(html: str, label: str) -> str:
    """The one inline chart with this aria-label."""
    (svg,) = [svg for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S) if f'aria-label="{label}"' in svg]
    return svg


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
    assert [p.name for p in paths[:2]] == ["report.md", "report.html"]
    run_dir = paths[0].parent
    assert sorted(p.name for p in run_dir.iterdir()) == ["charts", "report.html", "report.md", "results.json"]
    assert sorted(p.name for p in paths[2:]) == sorted(p.name for p in (run_dir / "charts").iterdir())
    assert (run_dir / "charts" / "plaintext-capacity.svg").read_text().startswith("<svg")
    for text in (md, html):
        assert "20261126T173000Z" in text
        assert "3f2a1c0" in text
        assert "AMD EPYC 7B13" in text
    assert md.index("## Verdict") < md.index("## Caveats") < md.index("## Every cell") < md.index("### Scenario `plaintext`")
    assert html.index('id="verdict"') < html.index('id="caveats"') < html.index('id="results"') < html.index('id="scenario-plaintext"')
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
        assert gunicorn["limit"] == "generator"
        assert by_server(rows)["wsgiref"]["rps"] == "1,844"  # server-bound: no "≥"
    for text in (md, html):
        assert "lower bound" in text.split("Every cell")[0]  # the marks' legend, up front
        assert "≥ 4,213 locust" in text.split("Every cell")[0]  # and the verdict table marks it
    # the rps chart hatches and labels it
    rps_svg = chart_svg(html, "plaintext: requests per second by server")
    assert 'aria-label="plaintext: requests per second by server"' in rps_svg
    assert "≥ 4,213" in rps_svg and "lower bound" in rps_svg
    assert "<pattern" in rps_svg  # the hatch


def test_failed_cell_shows_its_error_and_no_invented_figure(rendered):
    _, md, html = rendered
    error = "verify failed: /plaintext body b'Hello, World!\\r\\n' is not b'Hello, World!'"
    for rows in (md_scenario_rows(md, "plaintext"), html_scenario_rows(html, "plaintext")):
        waitress = by_server(rows)["waitress"]
        assert waitress["limit"] == "failed"
        for column in FIGURE_COLUMNS:
            assert waitress[column] == DASH, column
        assert rows[-2]["Server"] == "waitress"  # after every measured cell, before unavailable bjoern
        assert by_server(rows)["bjoern"]["limit"].startswith("unavailable: cannot import bjoern")
    assert error.replace("'", "&#39;") in html and error in md  # the error, once, in the caveats
    rps_svg = chart_svg(html, "plaintext: requests per second by server")
    assert ">failed<" in rps_svg  # a labelled gap where the bar would be


def test_server_bound_cells_come_first_by_rps(rendered):
    _, md, html = rendered
    expected = {"plaintext": ["wsgiref", "gunicorn", "waitress", "bjoern"],
                "signin": ["gunicorn", "wsgiref", "waitress", "bjoern"]}
    for scenario, order in expected.items():
        for rows in (md_scenario_rows(md, scenario), html_scenario_rows(html, scenario)):
            assert [row["Server"] for row in rows] == order
    groups = [row["group"] for row in html_scenario_rows(html, "signin")]
    assert groups == ["server", "server", "generator", "missing"]


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
    # four charts per scenario (capacity, throughput, latency, resources), each in its own figure
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == 8
    assert html.count("<svg") == 8
    for figure in figures:
        assert figure.count("<svg") == 1
        assert "<figcaption>" in figure or "capacity by configuration" in figure
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
    assert "No resource samples were recorded for this scenario." in html


def test_complete_run_has_no_interruption_notice(rendered):
    _, md, html = rendered
    assert "interrupted" not in md.lower()
    assert "interrupted" not in html.lower()


def test_markdown_table_survives_pipes_and_newlines_in_errors():
    run = load(SAMPLE)
    failed = next(cell for cell in run.cells if not cell.ok)
    failed.error = "verify failed: /plaintext body a|b\nsecond line"
    md = render.render_markdown(run)
    assert by_server(md_scenario_rows(md, "plaintext"))["waitress"]["limit"] == "failed"
    assert "`verify failed: /plaintext body a\\|b second line`" in md  # in the caveats, on one line


def test_html_escapes_document_text():
    run = load(SAMPLE)
    next(cell for cell in run.cells if not cell.ok).error = "verify failed: <script>alert(1)</script>"
    html = render.render_html(run)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_formatters_never_turn_missing_into_zero():
    assert tables.format_ms(None) == DASH
    assert tables.format_ms(0.41234) == "0.412"
    assert tables.format_ms(0.0) == "0.000"
    assert tables.format_ms(12.3456) == "12.35"
    assert tables.format_ms(1003.417) == "1,003.4"
    assert tables.format_rps(None, lower_bound=True) == DASH
    assert tables.format_rps(4212.88, lower_bound=True) == "≥ 4,213"
    assert tables.format_rps(42.26) == "42.3"
    assert tables.format_pct(None) == DASH
    assert tables.format_mb(None) == DASH
    assert tables.format_failures(None, None) == DASH
    assert tables.format_failures(0, 1234) == "0 / 1,234"
    assert tables.format_cpus([3, 0, 1, 2, 6]) == "0-3, 6"
    assert tables.format_cpus([]) == "not pinned"
    assert tables.format_command(["gunicorn", "--access-logfile", "", "app:a b"]) == "gunicorn --access-logfile '' 'app:a b'"


def test_single_step_run_without_repeats_reads_as_before(rendered):
    _, md, html = rendered
    for rows in (md_scenario_rows(md, "plaintext"), html_scenario_rows(html, "plaintext")):
        assert list(rows[0])[:3] == ["Server", "rps", "p50"]
        assert "wrk" not in rows[0] and "offered" not in rows[0]  # nothing measured them
        for row in rows:
            assert "(" not in row["rps"] and "CV" not in row["rps"] and "noisy" not in row["rps"]
    for text in (md, html):
        assert "Concurrency sweep" not in text
        assert "median (min–max" not in text  # no median-of-rounds wording for a single round
        assert "generator ceiling" not in text.lower()
        assert "at 32 users" not in text  # a single step needs no step in every title
    assert "#### " not in md


# ------------------------------------------------------------------------------------------------
# The concurrency sweep with repeats, wrk peaks, a knee and a failed cell.
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, str, str]:
    run_dir = tmp_path_factory.mktemp("sweep") / "run"
    shutil.copytree(SWEEP, run_dir)
    report.write_reports(run_dir)
    return run_dir, (run_dir / "report.md").read_text(encoding="utf-8"), (run_dir / "report.html").read_text(encoding="utf-8")


def sweep_doc() -> dict:
    return json.loads((SWEEP / "results.json").read_text())


def fixture_cell(doc: dict, scenario: str, server: str, users: int) -> dict:
    (cell,) = [c for c in doc["cells"] if (c["scenario"], c["server"], c["users"]) == (scenario, server, users)]
    return cell


def both(md: str, html: str, scenario: str, users: int) -> list[dict[str, dict[str, str]]]:
    """One step's table from each report, by server."""
    return [by_server(md_scenario_rows(md, scenario, users)), by_server(html_scenario_rows(html, scenario, users))]


def test_sweep_fixture_is_consistent():
    """The fixture obeys the document's rules, so the report tests below test the report."""
    doc = sweep_doc()
    assert doc["meta"]["options"]["users"] == [1, 8, 32] and doc["meta"]["options"]["repeat"] == 3
    assert len(doc["cells"]) == 3 * 2 * 3
    for cell in doc["cells"]:
        if cell["status"] != "ok":
            continue
        rounds = [r["rps"] for r in cell["repeats"]]
        assert len(rounds) == 3 and cell["rps"] == statistics.median(rounds)
        assert cell["spread"]["rps"] == stats.spread(rounds)
        assert cell["noisy"] == stats.is_noisy(cell["spread"]["rps"])
        assert cell["latency_ms"]["p99"] == statistics.median(r["latency_ms"]["p99"] for r in cell["repeats"])
        assert (cell["wrk_rps"] is not None) == (cell["scenario"] == "plaintext")
    assert [(c["scenario"], c["server"], c["users"]) for c in doc["cells"] if c["noisy"]] == [("plaintext", "waitress", 8)]
    assert [(c["scenario"], c["server"], c["users"]) for c in doc["cells"] if c["status"] != "ok"] == [("signin", "gunicorn", 32)]


def test_sweep_rps_reads_median_with_range_and_cv(sweep):
    _, md, html = sweep
    doc = sweep_doc()
    for scenario, server, users in (("plaintext", "gunicorn", 8), ("signin", "waitress", 1), ("signin", "bjoern", 32)):
        cell = fixture_cell(doc, scenario, server, users)
        rounds = [r["rps"] for r in cell["repeats"]]
        expected = (f"{statistics.median(rounds):,.0f} ({min(rounds):,.0f}–{max(rounds):,.0f}, "
                    f"CV {cell['spread']['rps']['cv_pct']:.1f} %)")
        for rows in both(md, html, scenario, users):
            assert rows[server]["rps"] == expected
    # a generator-bound median keeps its "≥"; the range after it is what the rounds measured
    for rows in both(md, html, "plaintext", 32):
        assert re.fullmatch(r"≥ 6,830 \(6,762–6,910, CV 1\.1 %\)", rows["bjoern"]["rps"])
    for text in (md, html):
        assert "Medians of 3 rounds" in text


def test_sweep_flags_the_noisy_cell_and_only_it(sweep):
    _, md, html = sweep
    for rows in both(md, html, "plaintext", 8):
        assert rows["waitress"]["rps"] == "3,650 (3,420–3,980, CV 7.6 %) noisy"
        assert not rows["gunicorn"]["rps"].endswith("noisy")
    flagged = {
        (kind, scenario, users, row["Server"])
        for scenario in ("plaintext", "signin") for users in (1, 8, 32)
        for kind, rows in (("md", md_scenario_rows(md, scenario, users)), ("html", html_scenario_rows(html, scenario, users)))
        for row in rows if "noisy" in row["rps"]
    }
    assert flagged == {("md", "plaintext", 8, "waitress"), ("html", "plaintext", 8, "waitress")}


def test_the_report_reads_the_limit_and_never_decides_it(sweep):
    """A locust figure is a lower bound exactly when ``cell.limit == "generator"``: not because wrk
    measured far more (the old, circular ceiling rule), and a server-bound figure ranks."""
    run_dir, md, html = sweep
    run = load(run_dir)
    limits = {c.server: c.limit for c in run.cells if (c.scenario, c.users) == ("plaintext", 32)}
    assert "generator" in limits.values() and set(limits.values()) != {"generator"}
    for rows in both(md, html, "plaintext", 32):
        for server, row in rows.items():
            assert row["rps"].startswith("≥ ") == (limits[server] == "generator"), server
            assert row["limit"] == limits[server]
    for text in (md, html):
        assert "generator ceiling" not in text.lower() and "Generator ceiling at" not in text
    # the same cell, told it was server-bound, is no longer a lower bound anywhere
    bjoern = next(c for c in run.cells if (c.server, c.scenario, c.users) == ("bjoern", "plaintext", 32))
    assert bjoern.limit == "generator"
    bjoern.limit = "server"
    md, html = render.render_markdown(run), render.render_html(run)
    for rows in both(md, html, "plaintext", 32):
        assert rows["bjoern"]["rps"].startswith("6,830")
        assert rows["bjoern"]["limit"] == "server"


def test_sweep_wrk_peak_column(sweep):
    _, md, html = sweep
    for rows in both(md, html, "plaintext", 32):
        assert rows["bjoern"]["wrk"].startswith("96,500 (")
        assert rows["waitress"]["wrk"].startswith("8,350 (")
    for users in (1, 8, 32):
        for rows in both(md, html, "signin", users):
            assert {row["wrk"] for row in rows.values()} == {DASH}
    # a row whose cell has a reason but whose table has other wrk figures shows the reason
    doc = sweep_doc()
    cell = fixture_cell(doc, "plaintext", "waitress", 32)
    cell.update(wrk_rps=None, wrk_latency_ms=None, wrk_note="wrk exited with code 1")
    cell["spread"]["wrk_rps"] = None
    for r in cell["repeats"]:
        r["wrk_rps"] = None
    run = Run.from_dict(doc)
    assert by_server(md_scenario_rows(render.render_markdown(run), "plaintext", 32))["waitress"]["wrk"] == "wrk exited with code 1"


def test_sweep_names_each_servers_knee(sweep):
    _, md, html = sweep
    knees = {row["Server"]: row for row in md_table(md_section(md, "signin").splitlines())}
    assert knees["waitress"]["knee"] == "knee at 8 users: p99 4.90 ms at 1,380 rps (at 32 users: p99 ×4.4 to 21.70 ms, rps ×1.03)"
    assert knees["bjoern"]["knee"] == "no knee within the sweep"
    assert knees["gunicorn"]["knee"] == "no knee within the sweep; failed at 32 users"
    assert knees["gunicorn"]["32 users"] == "failed"
    assert knees["bjoern"]["8 users"] == "2,450 rps, p99 3.60 ms"
    plaintext = {row["Server"]: row for row in md_table(md_section(md, "plaintext").splitlines())}
    assert {row["knee"] for row in plaintext.values()} == {"no knee within the sweep"}
    assert plaintext["bjoern"]["32 users"] == "≥ 6,830 rps, p99 3.30 ms"
    # the same verdict as lab.stats.knee on the same steps
    doc = sweep_doc()
    steps = [{"users": c["users"], "rps": c["rps"], "p99": c["latency_ms"]["p99"],
              "error_pct": c["failures"] / c["requests"] * 100}
             for c in doc["cells"] if (c["scenario"], c["server"]) == ("signin", "waitress")]
    assert stats.knee(steps)["users"] == 8
    for text in (md, html):
        assert "grew at least 2 times more than its throughput at the next step" in text
        assert "or its failed requests reached 1 % there" in text
    assert "knee at 8 users: p99 4.90 ms at 1,380 rps" in html


def test_sweep_has_latency_columns_up_to_p99_9(sweep):
    _, md, html = sweep
    for rows in both(md, html, "signin", 32):
        waitress = rows["waitress"]
        assert list(waitress)[list(waitress).index("p50"):list(waitress).index("max") + 1] == [
            "p50", "p99", "p99.9", "max"]
        assert (waitress["p99"], waitress["p99.9"], waitress["max"]) == ("21.70", "49.91", "138.9")


def test_sweep_failed_cell_keeps_its_error_and_no_figure(sweep):
    _, md, html = sweep
    for rows in both(md, html, "signin", 32):
        gunicorn = rows["gunicorn"]
        assert gunicorn["limit"] == "failed"
        for column in FIGURE_COLUMNS + ("wrk",):
            assert gunicorn[column] == DASH, column
    assert "- signin at 32 users / **gunicorn**: `server exited with code 1" in md


def test_sweep_html_charts(sweep):
    run_dir, _, html = sweep
    made = charts.charts(load(run_dir))
    # per scenario: capacity, two sweep charts, throughput and latency bars, one timeline
    assert charts.chart_count(made) == 12
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == html.count("<svg") == 12
    for figure in figures:
        assert figure.count("<svg") == 1
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', html)
    assert labels == [
        "plaintext: capacity by configuration, log scale",
        "signin: capacity by configuration, log scale",
        "plaintext: throughput by concurrent users, per server",
        "plaintext: p99 latency against throughput, per server",
        "plaintext at 32 users: requests per second by server",
        "plaintext at 32 users: latency percentiles by server",
        "plaintext at 32 users: CPU and memory over time by server",
        "signin: throughput by concurrent users, per server",
        "signin: p99 latency against throughput, per server",
        "signin at 32 users: requests per second by server",
        "signin at 32 users: latency percentiles by server",
        "signin at 32 users: CPU and memory over time by server",
    ]
    svgs = dict(zip(labels, re.findall(r"<svg.*?</svg>", html, flags=re.S)))
    assert "wrk peak rps" in svgs["plaintext: throughput by concurrent users, per server"]
    assert "stroke-dasharray" in svgs["plaintext: throughput by concurrent users, per server"]  # wrk dashed
    assert "knee" in svgs["signin: throughput by concurrent users, per server"]
    assert "knee" not in svgs["plaintext: throughput by concurrent users, per server"]
    assert "gunicorn failed" in svgs["signin: throughput by concurrent users, per server"]
    assert "gunicorn (failed)" in svgs["signin at 32 users: CPU and memory over time by server"]
    assert "wrk peak 96,500" in svgs["plaintext at 32 users: requests per second by server"]
    assert "log scale" in svgs["plaintext: throughput by concurrent users, per server"]
    assert len(set(re.findall(r'<clipPath id="([^"]+)"', html))) == len(re.findall(r'<clipPath id="', html))
    assert "<script" not in html and not re.search(r"\bsrc\s*=", html)
    for match in re.finditer(r"https?://", html):  # only SVG namespaces, never an outside resource
        assert re.search(r'xmlns(:\w+)?="$', html[max(0, match.start() - 20): match.start()])


def test_fixed_rate_cells_show_the_offered_rate_and_the_method(tmp_path):
    doc = sweep_doc()
    doc["meta"]["options"]["rate"] = 1500.0
    for cell in doc["cells"]:
        if cell["scenario"] == "signin":
            cell["rate"] = 1500.0
    run = Run.from_dict(doc)
    md, html = render.render_markdown(run), render.render_html(run)
    for rows in both(md, html, "signin", 8):
        assert rows["waitress"]["offered"] == "1,500 (not met)"  # 1,380 achieved
        assert rows["bjoern"]["offered"] == "1,500"
    for rows in both(md, html, "plaintext", 8):
        assert rows["bjoern"]["offered"] == DASH
    for text in (md, html):
        flat = " ".join(re.sub(r"<[^>]+>|\*", "", text).split())
        assert "Fixed-rate load (1,500 req/s offered)" in flat
        assert "latency is measured from each request's intended start (coordinated omission corrected)" in flat


def test_missing_wrk_is_a_caveat(tmp_path):
    doc = sweep_doc()
    for cell in doc["cells"]:
        cell.update(wrk_rps=None, wrk_latency_ms=None, wrk_errors=None, wrk_note="wrk is not installed")
        cell["spread"]["wrk_rps"] = None
        for figures in cell["repeats"]:
            figures.update(wrk_rps=None, wrk_latency_ms=None)
    run = Run.from_dict(doc)
    md, html = render.render_markdown(run), render.render_html(run)
    for text in (md, html):
        caveats_part = text.split("Every cell")[0]
        assert "No wrk peak." in re.sub(r"<[^>]+>|\*\*", "", caveats_part)
        assert "wrk is not installed: install wrk" in caveats_part
    limits = {c.server: c.limit for c in run.cells if (c.scenario, c.users) == ("plaintext", 32)}
    for rows in both(md, html, "plaintext", 32):
        assert {server: row["limit"] for server, row in rows.items()} == limits
        assert rows["bjoern"]["limit"] == "generator"  # its CPU still says so


def test_interrupted_sweep_counts_planned_steps(tmp_path):
    doc = sweep_doc()
    doc["meta"]["status"] = "interrupted"
    doc["cells"] = [c for c in doc["cells"] if c["users"] == 1]
    run = Run.from_dict(doc)
    md = render.render_markdown(run)
    assert "only the 6 cells that finished of 18 planned server × scenario × users cells" in md
    rows = by_server(md_scenario_rows(md, "signin", 32))
    assert rows["waitress"]["limit"] == "not run" and rows["waitress"]["rps"] == DASH
    # the bars and the timeline show the highest step the run reached, not an empty planned one
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', render.render_html(run))
    assert "signin at 1 user: requests per second by server" in labels
    assert "signin at 1 user: CPU and memory over time by server" in labels


def test_format_range():
    assert tables.format_range(None) == ""
    assert tables.format_range({"n": 1, "median": 5.0, "min": 5.0, "max": 5.0, "cv_pct": None}) == ""
    assert tables.format_range(stats.spread([100.0, 110.0, 90.0])) == "(90.0–110, CV 10.0 %)"


# ------------------------------------------------------------------------------------------------
# The workload run: configurations swept by workers × threads, resources, Little's law, the A/A
# twin and noise floor, which server for which workload, and the conformance probe matrix.
# ------------------------------------------------------------------------------------------------
#
# ``tests/data/workload_run`` (written once by a throwaway script through ``lab.aggregate``):
# gunicorn (sync, 2 workers), gunicorn:gthread 2w×4t and 2w×8t, gunicorn:gevent (2 workers),
# waitress 1w×4t and 1w×8t × io, cpu and plaintext × 1, 8 and 32 users, 2 rounds, seed 1234567,
# wrk off, server CPUs 0-1.  The first cell (gunicorn io at 1 user) has an A/A twin: noise floor
# rps 3.4 %, p99 6.2 %, CPU 4.2 %.  plaintext at 8 and 32 users is generator-bound for gthread and
# gevent (Little's law gap −35 to −39 % at 32 users); gunicorn io at 32 users has a +27.1 % gap.
# meta.probes holds all twelve probes for gunicorn and waitress.

import ast  # noqa: E402
import dataclasses  # noqa: E402
import html as html_lib  # noqa: E402

from lab import aggregate, limits  # noqa: E402

WORKLOAD = Path(__file__).parent / "data" / "workload_run"
CONFIGS = ["gunicorn", "gunicorn:gthread 2w×4t", "gunicorn:gthread 2w×8t", "gunicorn:gevent", "waitress 1w×4t",
           "waitress 1w×8t"]
RESOURCE_COLUMNS = ["Server", "CPU µs / request", "processes", "RSS MB / process", "in flight", "Little's law gap"]


def workload_doc() -> dict:
    return json.loads((WORKLOAD / "results.json").read_text())


@pytest.fixture(scope="module")
def workload(tmp_path_factory) -> tuple[Path, str, str]:
    run_dir = tmp_path_factory.mktemp("workload") / "run"
    shutil.copytree(WORKLOAD, run_dir)
    report.write_reports(run_dir)
    return run_dir, (run_dir / "report.md").read_text(encoding="utf-8"), (run_dir / "report.html").read_text(encoding="utf-8")


def plain(text: str) -> str:
    """A report as running text: tags and Markdown emphasis gone, entities decoded, whitespace collapsed."""
    text = re.sub(r"</?(strong|em|code|span|b|i|a)\b[^>]*>", "", text)  # inline: no word break
    text = re.sub(r"<[^>]+>", " ", text).replace("**", "").replace("`", "")
    return " ".join(html_lib.unescape(text).split())


def md_tables(section: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in a section, in order."""
    lines, tables = section.splitlines(), []
    start = 0
    while True:
        begin = next((i for i in range(start, len(lines)) if lines[i].startswith("|")), None)
        if begin is None:
            return tables
        end = next((i for i in range(begin, len(lines)) if not lines[i].startswith("|")), len(lines))
        tables.append(md_table(lines[begin:end]))
        start = end


def md_part(md: str, heading: str) -> str:
    """One ``## `` section of the Markdown report."""
    return md.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def html_part(html: str, anchor: str) -> str:
    """One ``<h2 id=...>`` section of the HTML report, up to the next ``<h2``."""
    return html.split(f'<h2 id="{anchor}">', 1)[1].split("<h2 ", 1)[0]


def test_workload_fixture_is_consistent():
    """The fixture obeys the lab's own aggregation, so the tests below test the report."""
    doc = workload_doc()
    run = Run.from_dict(doc)
    assert doc["meta"]["options"]["seed"] == 1234567 and doc["meta"]["options"]["repeat"] == 2
    twins = [c for c in run.cells if c.aa_twin]
    assert [(c.server, c.scenario, c.users) for c in twins] == [("gunicorn", "io", 1)]
    assert doc["meta"]["noise_floor"] == aggregate.noise_floor(run.cells)
    for cell in run.cells:
        again = dataclasses.replace(cell, repeats=[dict(r) for r in cell.repeats])
        aggregate.apply_rounds(again, limits.Setting.of(doc["meta"]))
        for key in ("rps", "cpu_us_per_request", "concurrency", "littles_law_gap_pct", "server_rss_per_process_mb",
                    "limit"):
            assert getattr(again, key) == getattr(cell, key), (cell.server, cell.scenario, cell.users, key)
        assert cell.concurrency == pytest.approx(cell.rps * cell.latency_ms["mean"] / 1000, abs=0.06)
    assert {tables.config_label(run, c) for c in run.cells} == set(CONFIGS)
    assert any(c.limit == "generator" and c.scenario == "plaintext" for c in run.cells)
    flagged = {(c.server, c.scenario, c.users, c.threads) for c in run.cells
               if abs(c.littles_law_gap_pct) > aggregate.LITTLES_LAW_TOLERANCE_PCT}
    assert flagged == {("gunicorn", "io", 32, 1), ("gunicorn:gthread", "plaintext", 32, 4),
                       ("gunicorn:gthread", "plaintext", 32, 8), ("gunicorn:gevent", "plaintext", 32, 1)}
    assert set(doc["meta"]["probes"]) == {"gunicorn", "waitress"}


def test_rows_are_labelled_by_configuration_and_the_twin_is_never_a_contender(workload):
    _, md, html = workload
    for users in (1, 8, 32):
        for rows in (md_scenario_rows(md, "io", users), html_scenario_rows(html, "io", users)):
            assert sorted(row["Server"] for row in rows) == sorted(CONFIGS)  # 6 rows: no twin, no duplicate
    knees = md_table(md_section(md, "io").splitlines())
    assert [row["Server"] for row in knees] == CONFIGS
    results = md.split("\n## Every cell\n", 1)[1].split("\n## Servers", 1)[0]
    assert "A/A twin" not in results
    assert "A/A twin" not in html.split('id="results"', 1)[1].split('id="servers"', 1)[0]
    assert '"gunicorn:gthread 2w×8t" is 2 worker processes × 8 threads each' in md
    for text in (md, html):
        assert "incl. 1 A/A twin" in text
    # one exact command per workers × threads setting, not one per cell
    servers = {row["Server"]: row for row in md_table(md_part(md, "Servers").splitlines())}
    assert servers["gunicorn:gthread"]["Command"].count("--threads 4") == 1
    assert servers["gunicorn:gthread"]["Command"].count("--threads 8") == 1
    assert servers["gunicorn:gthread"]["Workers / threads"] == "2 / 4, 2 / 8"


def test_resource_columns_in_both_reports(workload):
    _, md, html = workload
    for rows in (md_scenario_rows(md, "io", 32), html_scenario_rows(html, "io", 32)):
        gunicorn = by_server(rows)["gunicorn"]
        assert list(gunicorn)[list(gunicorn).index("CPU % server / gen."):][:4] == [
            "CPU % server / gen.", "µs / req", "RSS MB", "in flight"]
        assert (gunicorn["µs / req"], gunicorn["RSS MB"], gunicorn["in flight"]) == ("545", "21.2 × 3", "40.7")
        assert by_server(rows)["waitress 1w×8t"]["RSS MB"] == "27.6 × 1"
    # older documents have no resource figures: no empty columns for them
    sample_md = render.render_markdown(load(SAMPLE))
    assert "µs / req |" not in sample_md and "in flight |" not in sample_md


def test_littles_law_flags_both_directions(workload):
    _, md, html = workload
    doc = workload_doc()
    expected = sum(1 for c in doc["cells"] if not c["aa_twin"] and abs(c["littles_law_gap_pct"]) >
                   aggregate.LITTLES_LAW_TOLERANCE_PCT)
    for text in (md_part(md, "Little's law check"), html_part(html, "littles-law")):
        flat = plain(text)
        assert f"Beyond ±{aggregate.LITTLES_LAW_TOLERANCE_PCT:g} % a cell is flagged" in flat
        assert f"Flagged ({expected} of 54 closed-loop cells)" in flat
        assert "io at 32 users / gunicorn 40.7 for 32 users (+27.1 %)" in flat
        assert "plaintext at 32 users / gunicorn:gevent 19.6 for 32 users (−38.9 %)" in flat
        assert "plaintext at 8 users" not in flat  # −12 %: within the tolerance


def test_verdict_table_opens_the_report_with_marked_figures(workload):
    _, md, html = workload
    assert md.index("## Verdict") < md.index("## Caveats")
    table = md_table(md.split("### `plaintext`", 1)[1].splitlines())
    rows = {row["Configuration"]: row for row in table}
    assert list(table[0]) == ["Configuration", "capacity rps", "p99 ms", "CPU µs / request", "RSS MB"]
    assert rows["gunicorn:gevent"]["capacity rps"] == "≥ 3,120 locust"  # a lower bound, marked
    assert rows["gunicorn:gevent"]["CPU µs / request"] == "142"
    assert rows["gunicorn:gevent"]["p99 ms"] == DASH  # no common-rate step in this run
    for text in (md, html):
        flat = plain(text.split("Every cell")[0])
        assert "this run has no common-rate step" in flat
        # never a crown a generator-bound configuration may beat
        assert ("Capacity: no winner named: gunicorn:gthread 2w×4t, gunicorn:gthread 2w×8t and gunicorn:gevent "
                "have only a bound") in flat


def test_common_rate_step_is_the_latency_the_verdict_quotes(workload):
    """Fixed-rate cells at the run's common rate leave the per-step tables and fill the p99 column."""
    doc = workload_doc()
    doc["meta"]["common_rate"] = {"io": {"rate": 50.0, "basis": "50 % of the slowest configuration's capacity"}}
    extra = []
    for cell in doc["cells"]:
        if cell["scenario"] == "io" and cell["users"] == 32 and not cell["aa_twin"]:
            twin = json.loads(json.dumps(cell))
            twin.update(rate=50.0, rps=50.0)
            twin["latency_ms"]["p99"] = 1.0 + len(extra)
            extra.append(twin)
    extra[1]["rps"] = 30.0  # did not carry the rate
    doc["cells"] += extra
    run = Run.from_dict(doc)
    md, html = render.render_markdown(run), render.render_html(run)
    rows = {row["Configuration"]: row for row in md_table(md.split("### `io`", 1)[1].splitlines())}
    first, second = (tables.config_label(run, Run.from_dict({**doc, "cells": [c]}).cells[0]) for c in extra[:2])
    assert rows[first]["p99 ms"] == "1.00"
    assert rows[second]["p99 ms"] == "2.00↓"
    assert "p99 at 50.0 rps" in md and "p99 at 50.0 rps" in html
    verdict = judgements.verdict_table(run, "io", judgements.Closeness(None))["verdict"]
    assert f"p99 at 50.0 rps: {first}: p99 1.00 ms" in verdict
    assert "**Verdict.** " + verdict.replace("|", "\\|") in md
    for rows_ in (md_scenario_rows(md, "io", 32), html_scenario_rows(html, "io", 32)):
        assert len(rows_) == len(CONFIGS)  # the common-rate cells are not per-step rows


def test_noise_floor_is_stated(workload):
    _, md, html = workload
    floor = workload_doc()["meta"]["noise_floor"]
    assert (floor["rps_diff_pct"], floor["p99_diff_pct"], floor["cpu_us_per_request_diff_pct"]) == (3.42, 6.19, 4.2)
    for text in (md_part(md, "Noise floor"), html_part(html, "noise-floor")):
        flat = plain(text)
        assert ("The run's first cell, io at 1 user / gunicorn, was measured twice: an A/A pair, the same "
                "configuration under the same load. The two came out 3.4 % apart in rps, 6.2 % in p99 and 4.2 % in "
                "CPU per request.") in flat
        assert "from seed 1234567 (--seed 1234567 repeats the order)" in flat
        assert "first measurement 47.6 21.90 560" in " ".join(flat.replace("|", " ").split())
        assert "A/A twin 46.0 23.30 584" in " ".join(flat.replace("|", " ").split())


def test_no_noise_floor_says_single_runs_are_not_evidence(rendered):
    _, md, html = rendered
    for text in (md_part(md, "Noise floor"), html_part(html, "noise-floor")):
        flat = plain(text)
        assert "No noise floor. Each cell was measured once (one round), so no cell was measured twice." in flat
        assert "Single runs differ by up to 25 % back to back (TechEmpower)" in flat


def which(md: str, html: str, scenario: str) -> list[str]:
    """One workload's part of "Which server for which workload", from both reports, as plain text."""
    md_text = md_part(md, "Which server for which workload").split(f"### `{scenario}` workload", 1)[1].split("\n### ", 1)[0]
    html_text = html.split(f'<section class="workload" id="workload-{scenario}">', 1)[1].split("</section>", 1)[0]
    return [plain(md_text), plain(html_text)]


def test_which_server_for_which_workload(workload):
    _, md, html = workload
    for flat in which(md, html, "io"):
        assert ("no clear winner: waitress 1w×8t, waitress 1w×4t, gunicorn and gunicorn:gthread 2w×4t are within "
                "the noise floor (6.2 %)") in flat
        assert "waitress 1w×8t p99 21.40 ms with 1 user (47.0 rps, 12 % of its peak 394 rps)" in flat
        assert "CPU per request (lower is better): gunicorn:gevent: 305 µs" in flat
    for flat in which(md, html, "cpu"):
        assert ("Latency (p99 at the busiest step at or below 75 % of each configuration's own peak rps): "
                "gunicorn:gevent: p99 1.31 ms with 1 user (880 rps, 53 % of its peak 1,671 rps); runner-up "
                "gunicorn:gthread 2w×4t: p99 1.52 ms") in flat
        assert "waitress 1w×4t: no step at or below 75 % of its peak; its lightest step is used (1 user, 92 % of its peak)" in flat
        assert ("CPU per request (lower is better): no clear winner: gunicorn:gevent, gunicorn:gthread 2w×4t and "
                "gunicorn:gthread 2w×8t are within the noise floor (4.2 %)") in flat
        assert "threads add no throughput here" in flat and "The server was allowed 2 CPUs (0-1)" in flat
    for flat in which(md, html, "plaintext"):
        assert "CPU per request (lower is better): gunicorn:gevent: 142 µs" in flat
        assert "gunicorn opens a new TCP connection per request (no keep-alive)" in flat  # the keep-alive probe
    # the verdict's capacity line: without a noise floor, 5 % decides
    doc = workload_doc()
    doc["meta"]["noise_floor"] = None
    doc["cells"] = [c for c in doc["cells"] if not c["aa_twin"]]
    run = Run.from_dict(doc)
    verdict = judgements.verdict_table(run, "cpu", judgements.Closeness(None))["verdict"]
    assert verdict.startswith("Capacity: no clear winner: ") and "within 5 % (no noise floor was measured)" in verdict


def test_single_step_run_reads_p99_at_full_load(rendered):
    _, md, html = rendered
    for flat in which(md, html, "plaintext"):
        assert "Latency (p99 at full load: one users step): wsgiref: p99 11.70 ms with 32 users (1,844 rps)" in flat
        assert "no CPU-per-request figure in this run" in flat
    for text in (md, html):  # gunicorn's lower bound is above wsgiref's capacity: no crown
        assert "Capacity: no winner named: gunicorn has only a bound (≥ 4,213 locust)" in plain(text)


def test_io_bound_is_explained_with_each_configurations_rps(workload):
    _, md, html = workload
    assert judgements.IO_WAIT_MS == 20
    for flat in which(md, html, "io"):
        assert "one such worker cannot exceed 1000 / 20 = 50 rps" in flat
        assert "workers × threads × 1000 / 20 for process and thread models" in flat
        assert "greenlets (gevent) yield during the wait, so they have no such bound" in flat
        assert "users × 50 is the most they can ask for (1 user: 50.0 rps, 8 users: 400 rps, 32 users: 1,600 rps)" in flat
    table = md_tables(md_part(md, "Which server for which workload").split("### `io` workload", 1)[1].split("\n### ", 1)[0])[0]
    rows = {row["Configuration"]: row for row in table}
    assert (rows["gunicorn"]["served at once"], rows["gunicorn"]["bound rps"], rows["gunicorn"]["best rps"],
            rows["gunicorn"]["of bound"]) == ("2 workers × 1 thread = 2", "100", "98.6", "99 %")
    assert (rows["gunicorn:gthread 2w×8t"]["bound rps"], rows["gunicorn:gthread 2w×8t"]["best rps"]) == ("800", "776")
    assert rows["waitress 1w×4t"]["bound rps"] == "200"
    assert rows["gunicorn:gevent"]["bound rps"] == "none (other limits)"
    # the io throughput chart draws each bound and the load's cap
    svg = re.search(r'<svg role="img" aria-label="io at 32 users: requests per second by server".*?</svg>', html, re.S).group(0)
    assert "bound 100" in svg and "bound 800" in svg and "load's cap: 32 users × 50 = 1,600 rps" in svg


def test_io_wait_matches_the_scenario():
    """The report states /io's wait without importing locust: it must match what the scenario sends."""
    values = {}
    for path in sorted((Path(__file__).parent.parent / "loadtests").glob("*.py")):  # wherever they are defined
        tree = ast.parse(path.read_text())
        values.update({node.targets[0].id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                       and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)})
    assert values["IO_MS"] == judgements.IO_WAIT_MS
    assert values["LARGE_KB"] == judgements.BODY_KB["large"]


def test_probe_matrix(workload):
    _, md, html = workload
    probes = workload_doc()["meta"]["probes"]
    matrix = md_table(md_part(md, "Conformance probes").splitlines())
    assert list(matrix[0]) == ["Probe", "gunicorn", "waitress"]
    rows = {row["Probe"]: row for row in matrix}
    assert [r["probe"] for r in probes["gunicorn"]] == list(rows)[:-1]
    assert rows["keep-alive"] == {"Probe": "keep-alive", "gunicorn": "closes [differs]", "waitress": "keeps alive"}
    assert rows["connections-over-workers"]["gunicorn"] == "5 of 64 unanswered [fails]"
    assert rows["sigterm-under-load"]["waitress"] == "killed at once, drops 5/12 [differs]"
    assert rows["**totals**"] == {"Probe": "**totals**", "gunicorn": "8 ok, 3 differs, 1 fails", "waitress": "11 ok, 1 differs"}
    section = plain(md_part(md, "Conformance probes"))
    assert "slow-client. A slow or malicious client must not hold the only worker" in section
    assert "gunicorn (fails): of 64 simultaneous connections, 59 were answered" in section
    # HTML: one cell per server and probe, coloured by outcome, its evidence in <details>
    part = html_part(html, "probes")
    cells = re.findall(r'<td class="probe (\w+)" data-outcome="\w+" data-probe-server="([^"]+)">(.*?)</td>', part, re.S)
    assert len(cells) == 24
    outcomes = {(server, plain(body.split("</summary>")[0])): outcome for outcome, server, body in cells}
    assert outcomes[("gunicorn", "fails 5 of 64 unanswered")] == "fails"
    assert outcomes[("waitress", "keeps alive")] == "ok"
    assert outcomes[("gunicorn", "differs closes")] == "differs"
    assert "<details><summary><span class=\"tag outcome\">differs</span> closes</summary><p>the first reply" in part
    for outcome, colour in (("ok", "#e3f1e3"), ("differs", "#fff3d6"), ("fails", "#fbdcdc")):
        assert f"td.probe.{outcome} {{ background: {colour}; }}" in html
    assert "Without keep-alive every request pays a new TCP connection" in part


def test_probe_error_outcome_and_missing_result(workload):
    doc = workload_doc()
    doc["meta"]["probes"]["waitress"][-1].update(outcome="error", summary="local only", detail="this probe signals "
                                                 "the server's own process, which only local runs start.")
    doc["meta"]["probes"]["waitress"].pop(0)  # no keep-alive result for waitress
    run = Run.from_dict(doc)
    md, html = render.render_markdown(run), render.render_html(run)
    rows = {row["Probe"]: row for row in md_table(md_part(md, "Conformance probes").splitlines())}
    assert rows["sigterm-under-load"]["waitress"] == "local only [error]"
    assert rows["keep-alive"]["waitress"] == DASH
    assert 'class="probe error" data-outcome="error" data-probe-server="waitress"' in html
    assert 'class="probe missing" data-outcome="missing" data-probe-server="waitress"' in html


def test_probes_only_run_renders(tmp_path):
    doc = workload_doc()
    doc["cells"] = []
    doc["meta"].pop("noise_floor")
    run_dir = tmp_path / "probes"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps(doc))
    paths = report.write_reports(run_dir)
    md, html = (p.read_text(encoding="utf-8") for p in paths)
    for text in (md, html):
        flat = plain(text)
        assert "Probes only. This run measured no load" in flat
        assert "Conformance probes" in text and "closes" in text
        assert "Which server for which workload" not in text and "Noise floor" not in text
        assert "Scenario" not in text and "Latency source" not in text
        assert "the master process is counted in CPU and RSS" in text  # server notes still apply
    assert "<svg" not in html and "<figure" not in html
    assert charts.chart_count(charts.charts(load(run_dir))) == 0


def test_workload_charts(workload):
    run_dir, _, html = workload
    made = charts.charts(load(run_dir))
    assert charts.chart_count(made) == 21  # per scenario: capacity, 2 sweep, rps, latency, CPU per request, timeline
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', html)
    assert "plaintext at 32 users: server CPU per request by server" in labels
    svgs = dict(zip(labels, re.findall(r"<svg.*?</svg>", html, flags=re.S)))
    cpu = svgs["plaintext at 32 users: server CPU per request by server"]
    assert "lower is better" in cpu and ">142<" in cpu
    timeline = svgs["io at 32 users: CPU and memory over time by server"]
    assert "gunicorn:gthread 2w×8t" in timeline and "dashed: generator" in timeline
    assert len(set(re.findall(r'<clipPath id="([^"]+)"', html))) == len(re.findall(r'<clipPath id="', html))
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == html.count("<svg") == 21


def test_interrupted_workload_run_shows_unrun_configurations(tmp_path):
    doc = workload_doc()
    doc["meta"]["status"] = "interrupted"
    doc["cells"] = [c for c in doc["cells"] if c["scenario"] != "plaintext" or c["server"] == "gunicorn"]
    run = Run.from_dict(doc)
    md, html = render.render_markdown(run), render.render_html(run)
    for rows in (md_scenario_rows(md, "plaintext", 32), html_scenario_rows(html, "plaintext", 32)):
        servers = by_server(rows)
        assert servers["gunicorn:gthread 2w×8t"]["limit"] == "not run"
        assert servers["gunicorn"]["rps"] != DASH
        assert servers["waitress 1w×4t"]["in flight"] == DASH


def test_capacity_is_the_wrk_peak_where_locust_was_not_server_bound(sweep):
    _, md, html = sweep
    doc = sweep_doc()
    top = max((c for c in doc["cells"] if c["scenario"] == "plaintext" and c.get("wrk_rps")),
              key=lambda c: c["wrk_rps"])
    for text in (md, html):
        assert f"Capacity: {top['server']}: {top['wrk_rps']:,.0f} wrk" in text.replace("&nbsp;", " ")


def test_corpus_tally_and_parsing_row_meanings_are_in_both_reports():
    from lab import probe

    run = Run.from_dict(workload_doc())
    run.meta["corpus"] = {"folder": "gunicorn-27.0.1/tests/requests", "servers": {
        "bjoern": {"tally": {"files": 143, "as_expected": 67, "unexpected": 29, "no_expectation": 47,
                             "kinds": {"accepted": 75, "rejected": 63, "stalled": 5, "error": 0}}, "results": []}}}
    run.meta["probes"] = {"bjoern": [{"probe": "cl-with-te", "outcome": "fails", "summary": "ambiguous"}]}
    md, html = render.render_markdown(run), render.render_html(run)
    assert "| bjoern | 143 | 67 | 29 | 47 | 75 accepted, 63 rejected, 5 stalled |" in md
    assert "<td>bjoern</td><td>143</td><td>67</td>" in html
    meaning = judgements.probe_view(run)["rows"][0]["meaning"]
    assert meaning and meaning == probe.MEANING["cl-with-te"]
