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
from lab.results import Run, load

SAMPLE = Path(__file__).parent / "data" / "sample_run"
SWEEP = Path(__file__).parent / "data" / "sweep_run"
DASH = "—"
FIGURE_COLUMNS = ("rps", "p50", "p90", "p99", "p99.9", "p99.99", "max", "failures / requests",
                  "server CPU %", "server RSS MB", "generator CPU %")


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


HTML_COLUMNS = ("Rank", "Server") + FIGURE_COLUMNS + ("limit",)


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


def test_single_step_run_without_repeats_reads_as_before(rendered):
    _, md, html = rendered
    for rows in (md_scenario_rows(md, "plaintext"), html_scenario_rows(html, "plaintext")):
        assert list(rows[0])[:3] == ["Rank", "Server", "rps"]
        assert "wrk peak rps" not in rows[0] and "offered rps" not in rows[0]  # nothing measured them
        assert by_server(rows)["wsgiref"]["p99.99"] == DASH  # the old document has no p99.99
        for row in rows:
            assert "(" not in row["rps"] and "CV" not in row["rps"] and "noisy" not in row["rps"]
    for text in (md, html):
        assert "Concurrency sweep" not in text
        assert "rounds" not in text  # no median-of-rounds wording for a single round
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
        assert "Figures are medians of 3 rounds, each with its own warm-up (2.0" in text
        assert "s, not counted)" in text


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
    caveats_md = md.split("## Results")[0]
    assert "Noisy cells (rps CV above 5 %" in " ".join(caveats_md.split())
    assert "- plaintext at 8 users / **waitress**: 3,650 rps (3,420–3,980, CV 7.6 %)" in caveats_md
    assert re.search(r"plaintext at 8 users / <strong>waitress</strong>: 3,650 rps .*noisy", html.split('id="results"')[0])


def test_sweep_states_the_generator_ceiling_and_marks_cells_at_it(sweep):
    _, md, html = sweep
    doc = sweep_doc()
    for users, ceiling, marked in ((1, "1,930", {"bjoern", "gunicorn"}), (8, "6,480", {"bjoern"}),
                                   (32, "6,830", {"bjoern", "gunicorn"})):
        cells = [c for c in doc["cells"] if c["scenario"] == "plaintext" and c["users"] == users]
        value = stats.generator_ceiling({c["server"]: c["rps"] for c in cells}, {c["server"]: c["wrk_rps"] for c in cells})
        assert report.format_rps(value) == ceiling
        assert {c["server"] for c in cells if stats.at_ceiling(c["rps"], value)} == marked
        sentence = f"Generator ceiling at {users} user{'s' if users > 1 else ''}: {ceiling} rps"
        assert sentence in md_section(md, "plaintext", users)
        assert sentence in html
        for rows in both(md, html, "plaintext", users):
            for server, row in rows.items():
                at = "at the generator's ceiling" in row["limit"]
                assert at == (server in marked), (users, server, row["limit"])
                if at:
                    assert row["Rank"] == DASH and row["rps"].startswith("≥ ")
    for rows in both(md, html, "plaintext", 8):
        assert rows["gunicorn"]["Rank"] == "1" and rows["gunicorn"]["limit"] == "server"  # 5,330 < 90 % of 6,480
        assert rows["waitress"]["Rank"] == "2"
    for rows in both(md, html, "plaintext", 32):
        assert rows["bjoern"]["limit"] == "generator-bound (lower bound); at the generator's ceiling"  # CPU too
        assert rows["gunicorn"]["limit"] == "at the generator's ceiling (lower bound: compare wrk peak)"
        assert [server for server, row in rows.items() if row["Rank"] != DASH] == ["waitress"]
    for text in (md, html):
        plain = re.sub(r"<[^>]+>|\*\*", "", text)
        assert "For those cells the wrk peak is the figure to compare servers' capacity" in " ".join(plain.split())
        assert "No wrk peak and no generator ceiling for this scenario: wrk runs on plaintext and json only." in text
    assert "Generator ceiling at" not in md_section(md, "signin")
    # the charts show it too: a ceiling line in the bars, a band in the sweep
    assert "generator ceiling 6,830" in html


def test_sweep_wrk_peak_column(sweep):
    _, md, html = sweep
    for rows in both(md, html, "plaintext", 32):
        assert rows["bjoern"]["wrk peak rps"].startswith("96,500 (")
        assert rows["waitress"]["wrk peak rps"].startswith("8,350 (")
    for users in (1, 8, 32):
        for rows in both(md, html, "signin", users):
            assert {row["wrk peak rps"] for row in rows.values()} == {DASH}
    # a row whose cell has a reason but whose table has other wrk figures shows the reason
    doc = sweep_doc()
    cell = fixture_cell(doc, "plaintext", "waitress", 32)
    cell.update(wrk_rps=None, wrk_latency_ms=None, wrk_note="wrk exited with code 1")
    cell["spread"]["wrk_rps"] = None
    for r in cell["repeats"]:
        r["wrk_rps"] = None
    run = Run.from_dict(doc)
    assert by_server(md_scenario_rows(report.render_markdown(run), "plaintext", 32))["waitress"]["wrk peak rps"] == "wrk exited with code 1"


def test_sweep_names_each_servers_knee(sweep):
    _, md, html = sweep
    knees = {row["Server"]: row for row in md_table(md_section(md, "signin").splitlines())}
    assert knees["waitress"]["knee"] == "knee at 8 users: p99 4.90 ms at 1,380 rps (at 32 users: p99 ×4.4 to 21.70 ms)"
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
        assert "rose ×2 or more at the next step, or its failed requests reached 1 % there" in text
    assert "knee at 8 users: p99 4.90 ms at 1,380 rps" in html


def test_sweep_has_latency_columns_up_to_p99_99(sweep):
    _, md, html = sweep
    for rows in both(md, html, "signin", 32):
        waitress = rows["waitress"]
        assert list(waitress)[list(waitress).index("p50"):list(waitress).index("max") + 1] == [
            "p50", "p90", "p99", "p99.9", "p99.99", "max"]
        assert (waitress["p99"], waitress["p99.9"], waitress["p99.99"], waitress["max"]) == ("21.70", "49.91", "88.97", "138.9")


def test_sweep_failed_cell_keeps_its_error_and_no_figure(sweep):
    _, md, html = sweep
    for rows in both(md, html, "signin", 32):
        gunicorn = rows["gunicorn"]
        assert gunicorn["limit"].startswith("failed: server exited with code 1 during the load")
        for column in FIGURE_COLUMNS + ("wrk peak rps",):
            assert gunicorn[column] == DASH, column
        assert gunicorn["Rank"] == DASH
    assert "- signin at 32 users / **gunicorn**: `server exited with code 1" in md


def test_sweep_ranks_per_step(sweep):
    _, md, html = sweep
    expected = {
        ("signin", 1): {"bjoern": "1", "gunicorn": "2", "waitress": "3"},
        ("signin", 32): {"bjoern": "1", "waitress": "2", "gunicorn": DASH},  # gunicorn failed
        ("plaintext", 1): {"waitress": "1", "bjoern": DASH, "gunicorn": DASH},  # both at the ceiling
        ("plaintext", 32): {"waitress": "1", "bjoern": DASH, "gunicorn": DASH},
    }
    for (scenario, users), ranks in expected.items():
        for rows in (md_scenario_rows(md, scenario, users), html_scenario_rows(html, scenario, users)):
            assert {row["Server"]: row["Rank"] for row in rows} == ranks


def test_sweep_html_charts(sweep):
    run_dir, _, html = sweep
    made = report.charts(load(run_dir))
    # per scenario: two sweep charts, throughput and latency bars, one timeline
    assert report.chart_count(made) == 10
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == html.count("<svg") == 10
    for figure in figures:
        assert figure.count("<svg") == 1 and "<figcaption>" in figure
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', html)
    assert labels == [
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
    md, html = report.render_markdown(run), report.render_html(run)
    for rows in both(md, html, "signin", 8):
        assert rows["waitress"]["offered rps"] == "1,500 (not met)"  # 1,380 achieved
        assert rows["bjoern"]["offered rps"] == "1,500"
    for rows in both(md, html, "plaintext", 8):
        assert rows["bjoern"]["offered rps"] == DASH
    for text in (md, html):
        flat = " ".join(re.sub(r"<[^>]+>|\*", "", text).split())
        assert "Fixed-rate load (1,500 req/s offered)" in flat
        assert "1,500 req/s ÷ 8 users = 188 req/s per user, one request every 5.33 ms" in flat
        assert "latency is measured from its intended start time, not from when it was actually sent" in flat
        assert "coordinated omission, as wrk2 and HdrHistogram do" in flat
        assert "latencies grow instead of the rate silently dropping" in flat
        assert "Achieved rps below the offered rate means the target was not met" in flat
        assert re.search(r"signin at 1 user / (\*\*|)waitress(\*\*|): 490 of 1,500 rps", flat)


def test_missing_wrk_is_a_caveat(tmp_path):
    doc = sweep_doc()
    for cell in doc["cells"]:
        cell.update(wrk_rps=None, wrk_latency_ms=None, wrk_errors=None, wrk_note="wrk is not installed")
        cell["spread"]["wrk_rps"] = None
        for figures in cell["repeats"]:
            figures.update(wrk_rps=None, wrk_latency_ms=None)
    run = Run.from_dict(doc)
    md, html = report.render_markdown(run), report.render_html(run)
    for text in (md, html):
        caveats_part = text.split("Results")[0]
        assert "No wrk peak." in re.sub(r"<[^>]+>|\*\*", "", caveats_part)
        assert "wrk is not installed: this run has no peak-capacity figure" in caveats_part
        assert "Generator ceiling at" not in text
    for rows in both(md, html, "plaintext", 32):
        assert rows["gunicorn"]["limit"] == "server" and rows["gunicorn"]["Rank"] == "1"  # no ceiling to reach
        assert rows["bjoern"]["limit"] == "generator-bound (lower bound)"  # its CPU still says so


def test_interrupted_sweep_counts_planned_steps(tmp_path):
    doc = sweep_doc()
    doc["meta"]["status"] = "interrupted"
    doc["cells"] = [c for c in doc["cells"] if c["users"] == 1]
    run = Run.from_dict(doc)
    md = report.render_markdown(run)
    assert "only the 6 cells that finished of 18 planned server × scenario × users cells" in md
    rows = by_server(md_scenario_rows(md, "signin", 32))
    assert rows["waitress"]["limit"] == "not run" and rows["waitress"]["rps"] == DASH
    # the bars and the timeline show the highest step the run reached, not an empty planned one
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', report.render_html(run))
    assert "signin at 1 user: requests per second by server" in labels
    assert "signin at 1 user: CPU and memory over time by server" in labels


def test_format_range():
    assert report.format_range(None) == ""
    assert report.format_range({"n": 1, "median": 5.0, "min": 5.0, "max": 5.0, "cv_pct": None}) == ""
    assert report.format_range(stats.spread([100.0, 110.0, 90.0])) == "(90.0–110, CV 10.0 %)"
