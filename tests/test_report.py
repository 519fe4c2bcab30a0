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

from lab import charts, judgements, report, stats, tables
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
        assert tables.format_rps(value) == ceiling
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
    made = charts.charts(load(run_dir))
    # per scenario: two sweep charts, throughput and latency bars, one timeline
    assert charts.chart_count(made) == 10
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

from lab import aggregate  # noqa: E402

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
        aggregate.apply_rounds(again)
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
            assert sorted(row["Rank"] for row in rows) == ["1", "2", "3", "4", "5", "6"]
    knees = md_table(md_section(md, "io").splitlines())
    assert [row["Server"] for row in knees] == CONFIGS
    results = md.split("\n## Results\n", 1)[1]
    assert "A/A twin" not in results and "A/A twin" not in html.split('id="results"', 1)[1]
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
    rows = by_server(html_scenario_rows(html, "io", 32))
    assert list(rows["gunicorn"])[list(rows["gunicorn"]).index("server CPU %"):-1] == [
        "server CPU %", "CPU µs / request", "server RSS MB", "RSS MB / process", "in flight", "generator CPU %", "limit"]
    gunicorn = rows["gunicorn"]
    assert (gunicorn["CPU µs / request"], gunicorn["server RSS MB"], gunicorn["RSS MB / process"]) == ("545", "63.6", "21.2 × 3")
    assert gunicorn["in flight"].startswith("40.7 +27.1 %")
    assert rows["waitress 1w×8t"]["RSS MB / process"] == "27.6 × 1"
    # Markdown: the main table keeps its columns; the resources follow in a second table
    main, resources = md_tables(md_section(md, "io", 32))[:2]
    assert "CPU µs / request" not in main[0]
    assert list(resources[0]) == RESOURCE_COLUMNS
    res = by_server(resources)
    assert res["gunicorn"] == {"Server": "gunicorn", "CPU µs / request": "545", "processes": "3",
                               "RSS MB / process": "21.2", "in flight": "40.7", "Little's law gap": "+27.1 % flagged"}
    assert res["gunicorn:gevent"]["CPU µs / request"] == "305"
    # older documents have no resource figures: no empty columns for them
    sample_md = report.render_markdown(load(SAMPLE))
    assert "CPU µs / request" not in sample_md and "in flight" not in sample_md


def test_littles_law_flags_both_directions(workload):
    _, md, html = workload
    doc = workload_doc()
    expected = sum(1 for c in doc["cells"] if not c["aa_twin"] and abs(c["littles_law_gap_pct"]) >
                   aggregate.LITTLES_LAW_TOLERANCE_PCT)
    for text in (md_part(md, "Little's law check"), html_part(html, "littles-law")):
        flat = plain(text)
        assert f"differs from its users by more than {aggregate.LITTLES_LAW_TOLERANCE_PCT:g} % is flagged" in flat
        assert f"Flagged ({expected} of 54 closed-loop cells)" in flat
        assert ("io at 32 users / gunicorn: 40.7 in flight for 32 users (+27.1 %, positive): latency was measured "
                "over longer than the requests were in flight (e.g. connection setup counted, coordinated waits): "
                "check this cell.") in flat
        assert ("plaintext at 32 users / gunicorn:gevent: 19.6 in flight for 32 users (−38.9 %, negative): users "
                "spent time outside requests the client measured: in the load generator itself") in flat
        assert "typical when the generator is saturated; generator CPU here 98.0 % (saturated)" in flat
        assert "plaintext at 8 users" not in flat  # −12 %: within the tolerance
    for users, server, gap in ((32, "gunicorn:gevent", "−38.9 % flagged"), (8, "gunicorn:gevent", "−11.8 %"),
                               (32, "waitress 1w×4t", "−2.2 %")):
        resources = by_server(md_tables(md_section(md, "plaintext", users))[1])
        assert resources[server]["Little's law gap"] == gap
    flagged_html = set()
    for scenario in ("io", "cpu", "plaintext"):
        for users in (1, 8, 32):
            flagged_html |= {(scenario, users, row["Server"]) for row in html_scenario_rows(html, scenario, users)
                             if "Little's law" in row["in flight"]}
    assert flagged_html == {("io", 32, "gunicorn"), ("plaintext", 32, "gunicorn:gthread 2w×4t"),
                            ("plaintext", 32, "gunicorn:gthread 2w×8t"), ("plaintext", 32, "gunicorn:gevent")}


def test_generator_bound_cells_are_ranked_by_cpu_per_request(workload):
    _, md, html = workload
    section = md_section(md, "plaintext", 32)
    main, _, efficiency = md_tables(section)[:3]
    assert [row["Rank"] for row in main if row["limit"].startswith("generator-bound")] == [DASH] * 3
    assert [(row["CPU rank"], row["Server"], row["CPU µs / request"], row["rps (lower bound)"]) for row in efficiency] == [
        ("1", "gunicorn:gevent", "142", "≥ 3,120"), ("2", "gunicorn:gthread 2w×4t", "168", "≥ 3,010"),
        ("3", "gunicorn:gthread 2w×8t", "171", "≥ 3,050")]
    flat = plain(section)
    assert "Generator-bound cells ranked by server CPU per request (lower is better)" in flat
    assert "so ranking them by rps is meaningless" in flat
    assert "gunicorn:gevent used the least server CPU per request: 142 µs, against 168 µs for gunicorn:gthread 2w×4t (+18.3 %)." in flat
    # HTML: the same ranking, under the step's table
    step = html.split('<table class="efficiency" data-users="32">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'data-config="([^"]+)"', step) == ["gunicorn:gevent", "gunicorn:gthread 2w×4t", "gunicorn:gthread 2w×8t"]
    assert "Generator-bound cells ranked by server CPU per request" in html
    # only tables with generator-bound cells get one
    assert len(md_tables(md_section(md, "plaintext", 1))) == 2
    assert "ranked by server CPU" not in md_section(md, "io")
    for text in (md, html):
        assert "each table with generator-bound cells is followed by those cells ranked by server CPU µs per request" in plain(text)


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
        assert "Differences below ~5–25 % between single runs are not evidence" in flat
        assert "TechEmpower sees up to 25 % between back-to-back runs of the same test" in flat


def which(md: str, html: str, scenario: str) -> list[str]:
    """One workload's part of "Which server for which workload", from both reports, as plain text."""
    md_text = md_part(md, "Which server for which workload").split(f"### `{scenario}` workload", 1)[1].split("\n### ", 1)[0]
    html_text = html.split(f'<section class="workload" id="workload-{scenario}">', 1)[1].split("</section>", 1)[0]
    return [plain(md_text), plain(html_text)]


def test_which_server_for_which_workload(workload):
    _, md, html = workload
    for flat in which(md, html, "io"):
        assert ("Throughput (server-bound cells): gunicorn:gevent: 1,520 rps (2 workers, greenlets, 32 users); "
                "runner-up gunicorn:gthread 2w×8t: 776 rps (2 workers × 8 threads, 32 users), −48.9 %.") in flat
        assert ("no clear winner: waitress 1w×8t, waitress 1w×4t, gunicorn and gunicorn:gthread 2w×4t are within "
                "the noise floor (6.2 %)") in flat
        assert "waitress 1w×8t p99 21.40 ms with 1 user (47.0 rps, 12 % of its peak 394 rps)" in flat
        assert "CPU per request (lower is better): gunicorn:gevent: 305 µs per request" in flat
    for flat in which(md, html, "cpu"):
        assert ("Throughput (server-bound cells): no clear winner: gunicorn, gunicorn:gevent and gunicorn:gthread "
                "2w×4t are within the noise floor (3.4 %): gunicorn 1,702 rps (2 workers × 1 thread, 32 users)") in flat
        assert ("Latency (p99 at the busiest step at or below 75 % of each configuration's own peak rps): "
                "gunicorn:gevent: p99 1.31 ms with 1 user (880 rps, 53 % of its peak 1,671 rps); runner-up "
                "gunicorn:gthread 2w×4t: p99 1.52 ms") in flat
        assert "waitress 1w×4t: no step at or below 75 % of its peak; its lightest step is used (1 user, 92 % of its peak)" in flat
        assert ("CPU per request (lower is better): no clear winner: gunicorn:gevent, gunicorn:gthread 2w×4t and "
                "gunicorn:gthread 2w×8t are within the noise floor (4.2 %)") in flat
        assert "threads add no throughput here" in flat and "The server was allowed 2 CPUs (0-1)" in flat
    for flat in which(md, html, "plaintext"):
        assert "no clear winner: waitress 1w×4t and waitress 1w×8t are within the noise floor (3.4 %)" in flat
        assert ("gunicorn:gthread 2w×4t, gunicorn:gthread 2w×8t and gunicorn:gevent were generator-bound at more rps "
                "than that (up to ≥ 3,120): their capacity is at least that") in flat
        assert "CPU per request (lower is better): gunicorn:gevent: 142 µs per request" in flat
        assert "gunicorn opens a new TCP connection per request (no keep-alive)" in flat  # the keep-alive probe
    # without a noise floor, 5 % decides
    doc = workload_doc()
    doc["meta"]["noise_floor"] = None
    doc["cells"] = [c for c in doc["cells"] if not c["aa_twin"]]
    run = Run.from_dict(doc)
    for flat in which(report.render_markdown(run), report.render_html(run), "cpu"):
        assert ("Throughput (server-bound cells): no clear winner: gunicorn, gunicorn:gevent, gunicorn:gthread 2w×4t "
                "and gunicorn:gthread 2w×8t are within 5 % (no noise floor was measured)") in flat


def test_single_step_run_reads_p99_at_full_load(rendered):
    _, md, html = rendered
    for flat in which(md, html, "plaintext"):
        assert "Latency (p99 at full load: one users step): wsgiref: p99 11.70 ms with 32 users (1,844 rps)" in flat
        assert "Throughput (server-bound cells): wsgiref: 1,844 rps" in flat
        assert "gunicorn was generator-bound at more rps than that (up to ≥ 4,213)" in flat
        assert "no CPU-per-request figure in this run" in flat


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
    tree = ast.parse((Path(__file__).parent.parent / "loadtests" / "scenarios.py").read_text())
    values = {node.targets[0].id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
              and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Constant)}
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
    md, html = report.render_markdown(run), report.render_html(run)
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
    assert charts.chart_count(made) == 18  # per scenario: 2 sweep, rps, latency, CPU per request, timeline
    labels = re.findall(r'<svg role="img" aria-label="([^"]+)"', html)
    assert "plaintext at 32 users: server CPU per request by server" in labels
    svgs = dict(zip(labels, re.findall(r"<svg.*?</svg>", html, flags=re.S)))
    cpu = svgs["plaintext at 32 users: server CPU per request by server"]
    assert "lower is better" in cpu and ">142<" in cpu
    timeline = svgs["io at 32 users: CPU and memory over time by server"]
    assert "gunicorn:gthread 2w×8t" in timeline and "dashed: generator" in timeline
    assert len(set(re.findall(r'<clipPath id="([^"]+)"', html))) == len(re.findall(r'<clipPath id="', html))
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == html.count("<svg") == 18


def test_interrupted_workload_run_shows_unrun_configurations(tmp_path):
    doc = workload_doc()
    doc["meta"]["status"] = "interrupted"
    doc["cells"] = [c for c in doc["cells"] if c["scenario"] != "plaintext" or c["server"] == "gunicorn"]
    run = Run.from_dict(doc)
    md, html = report.render_markdown(run), report.render_html(run)
    for rows in (md_scenario_rows(md, "plaintext", 32), html_scenario_rows(html, "plaintext", 32)):
        servers = by_server(rows)
        assert servers["gunicorn:gthread 2w×8t"]["limit"] == "not run"
        assert servers["gunicorn"]["Rank"] == "1"
    assert by_server(html_scenario_rows(html, "plaintext", 32))["waitress 1w×4t"]["in flight"] == DASH
    assert "not run" not in [row["Server"] for row in md_tables(md_section(md, "plaintext", 32))[1]]


def test_which_server_names_the_best_wrk_peak_where_wrk_ran(sweep):
    _, md, html = sweep
    doc = sweep_doc()
    top = max((c for c in doc["cells"] if c["scenario"] == "plaintext" and c.get("wrk_rps")),
              key=lambda c: c["wrk_rps"])
    for text in (md, html):
        assert "Peak capacity measured by wrk (not capped by locust)" in text
        assert f"{top['server']}: {top['wrk_rps']:,.0f} rps" in text.replace("&nbsp;", " ")
