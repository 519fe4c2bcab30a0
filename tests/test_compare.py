"""``lab.report.compare``: two small runs built in code, compared, and both outputs read back.

Run A and run B share a host except where a test changes it.  Their cells (scenario plaintext
unless noted):

* gunicorn: rps 1000 ± 10 → 1200 ± 10 over 3 repeats: separated ranges, so "faster"; its p99 stays
  within noise.
* waitress: rps 1000 (980–1020) → 1010 (990–1030): overlapping, so "within noise"; p99 2 ms → 5 ms
  with separated ranges, so latency got "slower" (worse).
* wsgiref: generator-bound in B, rps 900 → 1100 separated: "faster", yet marked not a server change.
* bjoern: failed in B with an error; A measured it.
* meinheld: only in B.  cheroot: only in A.
* signin / gunicorn: one repeat on each side: no repeats to judge noise.
"""

from __future__ import annotations

import copy
import re
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lab import stats
from lab.report import compare
from lab.results import Cell, Run, save

META = {
    "run_id": "A-run",
    "lab": {"revision": "aaaa111", "dirty": False},
    "started_at": "2026-11-26T17:30:00+00:00",
    "finished_at": "2026-11-26T17:40:00+00:00",
    "status": "complete",
    "environment": "local",
    "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/x/python"},
    "packages": {"gunicorn": "23.0.0", "waitress": "3.0.2", "locust": "2.47.0"},
    "servers": {},
    "host": {"cpu_model": "AMD EPYC 7B13", "cpu_count": 4, "platform": "Linux", "kernel": "6.1.0"},
    "cpus": {"server": [0, 1], "generator": [2, 3]},
    "generator_bound_cpu_pct": 90.0,
    "options": {"servers": ["gunicorn", "waitress", "wsgiref", "bjoern", "cheroot"],
                "scenarios": ["plaintext", "signin"], "app": "raw", "users": 32, "duration": 8.0,
                "warmup": 2.0, "workers": 1, "threads": 4, "out": "results", "repeat": 3},
}


def cell(server: str, rps: list[float] | None, p99: list[float] | None = None, scenario: str = "plaintext",
         limit: str = "server", error: str | None = None, **extra) -> Cell:
    """A cell whose top-level figures are the medians of its repeats, as the bench records them."""
    if error is not None:
        return Cell(server=server, scenario=scenario, app="raw", status="failed", error=error, users=32,
                    workers=1, threads=4, **extra)
    p99 = p99 or [1.0] * len(rps)
    spread = {"rps": stats.spread(rps), "p99": stats.spread(p99)}
    return Cell(server=server, scenario=scenario, app="raw", status="ok", users=32, limit=limit,
                rps=statistics.median(rps), latency_ms={"p50": 0.5, "p99": statistics.median(p99), "max": 9.0},
                repeats=[{"rps": r, "p99": p} for r, p in zip(rps, p99)], spread=spread,
                noisy=stats.is_noisy(spread["rps"]), workers=1, threads=4, **extra)


def run_a() -> Run:
    return Run(meta=copy.deepcopy(META), cells=[
        cell("gunicorn", [990, 1000, 1010], [1.0, 1.1, 1.2]),
        cell("waitress", [980, 1000, 1020], [1.9, 2.0, 2.1]),
        cell("wsgiref", [890, 900, 910]),
        cell("bjoern", [3000, 3050, 3100]),
        cell("cheroot", [700, 710, 720]),
        cell("gunicorn", [500], scenario="signin"),
    ])


def run_b(**meta_changes) -> Run:
    meta = copy.deepcopy(META)
    meta.update(run_id="B-run", lab={"revision": "bbbb222", "dirty": True}, started_at="2026-11-27T09:00:00+00:00")
    meta.update(meta_changes)
    return Run(meta=meta, cells=[
        cell("gunicorn", [1190, 1200, 1210], [1.05, 1.1, 1.15]),
        cell("waitress", [990, 1010, 1030], [4.9, 5.0, 5.1]),
        cell("wsgiref", [1090, 1100, 1110], limit="generator"),
        cell("bjoern", None, error="server exited with code 1: libev.so.4 missing"),
        cell("meinheld", [2000, 2010, 2020]),
        cell("gunicorn", [520], scenario="signin"),
    ])


def write(tmp_path: Path, a: Run, b: Run) -> tuple[str, str, list[Path]]:
    dir_a, dir_b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out" / "nested"
    dir_a.mkdir()
    dir_b.mkdir()
    save(a, dir_a)
    save(b, dir_b)
    paths = compare.write_comparison(dir_a, dir_b, out)
    return paths[0].read_text(), paths[1].read_text(), paths


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> tuple[str, str, list[Path]]:
    return write(tmp_path_factory.mktemp("compare"), run_a(), run_b())


# ------------------------------------------------------------------------------------------------
# Read the rows back out of both outputs.
# ------------------------------------------------------------------------------------------------


def split_md_row(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def md_rows(md: str, scenario: str) -> dict[str, dict[str, str]]:
    """A scenario's main table as {server: {column: text}}."""
    section = md.split(f"### Scenario `{scenario}`", 1)[1]
    table = []
    for line in section.strip().splitlines():
        if not line.startswith("|"):
            if table:
                break
            continue
        table.append(line)
    header = split_md_row(table[0])
    return {row["Server"].strip("*"): row
            for row in (dict(zip(header, split_md_row(line), strict=True)) for line in table[2:])}


class PairTables(HTMLParser):
    """{scenario: {server: [cell texts]}} from each section's ``table.pairs`` (the first one)."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.scenario = None
        self.in_table = False
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.resources: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "xlink:href", "srcset", "data", "action"):
            if name in attrs and not attrs[name].startswith("#"):  # "#id" points inside the page
                self.resources.append((tag, name, attrs[name]))
        if tag in ("link", "script", "img", "iframe", "object", "embed"):
            self.resources.append((tag, "", ""))
        if tag == "section":
            self.scenario = attrs.get("data-scenario")
        elif tag == "table" and "pairs" in (attrs.get("class") or "") and self.scenario not in self.tables:
            self.tables[self.scenario] = {}
            self.in_table = True
        elif tag == "tr" and self.in_table:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if self.row and self.row[0] != "Server":
                self.tables[self.scenario][self.row[0]] = self.row
            self.row = None
        elif tag == "table":
            self.in_table = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_rows(html: str, scenario: str) -> dict[str, list[str]]:
    parser = PairTables()
    parser.feed(html)
    return parser.tables[scenario]


# HTML columns: server, app, load, rps A, rps B, rps change, rps verdict, p99 A, p99 B, p99 change,
# p99 verdict, notes.
RPS_VERDICT, P99_VERDICT, NOTES = 6, 10, 11


# ------------------------------------------------------------------------------------------------
# Tests.
# ------------------------------------------------------------------------------------------------


def test_writes_both_files_into_a_created_folder(outputs):
    _md, _html, paths = outputs
    assert [p.name for p in paths] == ["compare.md", "compare.html"]
    assert all(p.is_file() for p in paths)
    assert not [p for p in paths[0].parent.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_header_names_both_runs(outputs):
    md, html, _ = outputs
    for text in (md, html):
        for expected in ("A-run", "B-run", "aaaa111", "bbbb222", "2026-11-26T17:30:00+00:00",
                         "2026-11-27T09:00:00+00:00", "AMD EPYC 7B13, 4 CPUs", "local"):
            assert expected in text
        assert "dirty" in text  # B's working tree was dirty


def test_rps_verdicts(outputs):
    md, html, _ = outputs
    rows = md_rows(md, "plaintext")
    assert rows["gunicorn"]["rps verdict"] == "faster"
    assert rows["gunicorn"]["rps change"] == "+20.0 %"
    assert rows["gunicorn"]["rps A"] == "1,000 (990–1,010, CV 1.0 %, n=3)"
    assert rows["waitress"]["rps verdict"] == "within noise"
    assert rows["waitress"]["rps change"] == "+1.0 %"
    hrows = html_rows(html, "plaintext")
    assert hrows["gunicorn"][RPS_VERDICT] == "faster"
    assert hrows["waitress"][RPS_VERDICT] == "within noise"


def test_p99_verdicts_say_lower_is_faster(outputs):
    md, html, _ = outputs
    rows = md_rows(md, "plaintext")
    column = "p99 verdict (faster = lower latency)"
    assert rows["waitress"][column] == "slower"  # 2 ms -> 5 ms: worse
    assert rows["waitress"]["p99 change"] == "+150.0 %"
    assert rows["gunicorn"][column] == "within noise"
    assert html_rows(html, "plaintext")["waitress"][P99_VERDICT] == "slower"
    assert "faster = lower latency" in html


def test_no_repeats_to_judge(outputs):
    md, html, _ = outputs
    assert md_rows(md, "signin")["gunicorn"]["rps verdict"] == "no repeats to judge noise"
    assert html_rows(html, "signin")["gunicorn"][RPS_VERDICT] == "no repeats to judge noise"
    assert md_rows(md, "signin")["gunicorn"]["rps change"] == "+4.0 %"


def test_only_in_rows(outputs):
    md, html, _ = outputs
    rows = md_rows(md, "plaintext")
    assert rows["meinheld"]["rps verdict"] == "only in B"
    assert rows["meinheld"]["rps A"] == "—"
    assert rows["cheroot"]["rps verdict"] == "only in A"
    assert rows["cheroot"]["rps B"] == "—"
    hrows = html_rows(html, "plaintext")
    assert hrows["meinheld"][RPS_VERDICT] == "only in B"
    assert hrows["cheroot"][RPS_VERDICT] == "only in A"


def test_failed_cell_shows_its_error_never_zero(outputs):
    md, html, _ = outputs
    row = md_rows(md, "plaintext")["bjoern"]
    assert row["rps B"] == "failed"
    assert row["rps change"] == "—"
    assert row["rps verdict"] == "not comparable: B failed"
    assert "B failed: server exited with code 1: libev.so.4 missing" in row["Notes"]
    hrow = html_rows(html, "plaintext")["bjoern"]
    assert hrow[4] == "failed" and hrow[RPS_VERDICT] == "not comparable: B failed"
    assert "libev.so.4 missing" in hrow[NOTES]
    for text in (row["rps B"], row["p99 B ms"], hrow[4], hrow[8]):
        assert not re.fullmatch(r"0(\.0+)?", text)


def test_generator_bound_change_is_not_a_server_change(outputs):
    md, html, _ = outputs
    row = md_rows(md, "plaintext")["wsgiref"]
    assert row["rps B"].startswith("≥ 1,100")
    assert row["rps verdict"] == "faster (generator-bound: not a server change)"
    assert "B generator-bound" in row["Notes"]
    hrow = html_rows(html, "plaintext")["wsgiref"]
    assert "not a server change" in hrow[RPS_VERDICT]
    assert re.search(r'<td class="verdict none">faster<br><span class="tag lower">generator-bound', html)
    # The summary counts wsgiref apart: only gunicorn is a server-bound "faster".
    assert ("rps, server-bound pairs: faster ×1, within noise ×1, no repeats to judge noise ×1.\n"
            "- p99: slower ×1, within noise ×2, no repeats to judge noise ×1.") in md
    assert "Generator-bound on at least one side: 1 of the pairs" in md


def test_verdict_rule_is_explained(outputs):
    for text in outputs[:2]:
        assert re.search(r"min–max ranges of the two\s+runs (\*\*|<strong>)do not overlap", text)
        assert "CV (coefficient of variation" in text


def test_html_is_self_contained(outputs):
    _md, html, _ = outputs
    parser = PairTables()
    parser.feed(html)
    assert parser.resources == []
    assert "@import" not in html
    assert re.findall(r"url\((?!#)", html) == []  # only clip-path="url(#id)" inside the SVG
    for match in re.finditer(r"https?://", html):
        before = html[max(0, match.start() - 20): match.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), html[match.start() - 40: match.end() + 40]
    assert html.count("<svg") == 2  # one chart per scenario
    assert "<style>" in html


def test_same_environment_gives_no_warning(outputs):
    md, html, _ = outputs
    assert "environments differ" not in md and "environments differ" not in html
    assert "Both runs share host CPU" in md


@pytest.mark.parametrize("changes, what, a, b", [
    ({"host": {**META["host"], "cpu_model": "Intel Xeon 8375C"}}, "host CPU model", "AMD EPYC 7B13", "Intel Xeon 8375C"),
    ({"environment": "containers"}, "environment", "local", "containers"),
    ({"python": {**META["python"], "version": "3.12.1"}}, "python", "CPython 3.11.7", "CPython 3.12.1"),
    ({"packages": {**META["packages"], "gunicorn": "23.1.0"}}, "package gunicorn", "23.0.0", "23.1.0"),
    ({"options": {**META["options"], "duration": 30.0}}, "option duration", "8.0", "30.0"),
])
def test_different_environments_warn(tmp_path, changes, what, a, b):
    md, html, _ = write(tmp_path, run_a(), run_b(**changes))
    assert "WARNING: the two runs' environments differ." in md
    assert f"| {what} | {a} | {b} |" in md
    assert "environments differ" in html and f"<th>{what}</th><td>{a}</td><td>{b}</td>" in html


def test_ignored_options_do_not_warn(tmp_path):
    options = {**META["options"], "out": "elsewhere", "servers": ["gunicorn"]}
    md, _html, _ = write(tmp_path, run_a(), run_b(options=options))
    assert "environments differ" not in md


def test_cells_with_other_workers_are_other_measurements(tmp_path):
    b = run_b()
    b.cells[0].workers = 4  # a --workers sweep step: not the same configuration as 1 worker
    md, _html, _ = write(tmp_path, run_a(), b)
    assert "only in A" in md and "only in B" in md


def test_schema_1_cells_without_spread(tmp_path):
    a, b = run_a(), run_b()
    for c in a.cells + b.cells:
        c.spread = {}
    md, _html, _ = write(tmp_path, a, b)
    assert md_rows(md, "plaintext")["gunicorn"]["rps verdict"] == "no repeats to judge noise"


def test_a_change_inside_the_noise_floor_is_within_noise(tmp_path):
    a, b = run_a(), run_b()
    for run in (a, b):
        run.meta["noise_floor"] = {"server": "gunicorn", "scenario": "plaintext", "users": 32,
                                   "rps_diff_pct": 25.0, "p99_diff_pct": 1.0}
    md, _html, _ = write(tmp_path, a, b)
    # gunicorn went from ~1000 to ~1200 rps with separate ranges: +20 %, inside the 25 % floor
    assert md_rows(md, "plaintext")["gunicorn"]["rps verdict"] == "within noise"
