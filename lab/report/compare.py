"""Compare two runs cell by cell: did a server get faster, slower, or only noisier?

``python -m lab compare RUN_A RUN_B`` renders ``compare.md`` and ``compare.html`` from the two
runs' result documents (``results.json``) alone, so any two old runs can be compared.

Three rules shape everything below:

* A change is only called "faster" or "slower" when the min–max ranges of the repeats do not
  overlap (``lab.stats.verdict``); a change % alone says nothing about noise.
* A difference is only the server's when everything else stayed the same: the header lists every
  difference in host, environment, versions and options, and each row notes differences in the
  cell's own settings (workers, threads, ...).
* A generator-bound cell measured the load generator, not the server, so its rps change is marked
  as not being a server change; a failed cell shows its error, never a 0.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

import markupsafe

from lab import stats
from lab.report import charts, rows
from lab.report.figures import lower_bound
from lab.report.render import environment
from lab.results import Cell, Run, load, write_atomic

COMPARE_MD = "compare.md"
COMPARE_HTML = "compare.html"

#: Options that do not change how a matched cell was measured: where results went, which cells
#: were planned (unmatched cells are listed anyway), timeouts, and values recorded elsewhere
#: (``mode`` is ``meta.environment``; the CPU sets are ``meta.cpus`` as actually used).
IGNORED_OPTIONS = frozenset({"out", "seed", "servers", "scenarios", "mode", "host", "start_timeout",
                             "stop_timeout", "server_cpus", "generator_cpus"})

#: A cell's own settings that, when they differ, make its change a configuration change.
CELL_SETTINGS = (("workers", "workers"), ("threads", "threads"), ("locust_workers", "locust workers"),
                 ("server_model", "server model"))

#: Container limits compared between two container runs.
CONTAINER_LIMITS = (("cpus", "CPUs"), ("memory_mb", "memory MB"), ("cpuset", "cpuset"))

#: The figures compared (also their key in ``Cell.spread``): whether higher is better, how to format.
FIGURES = {
    "rps": {"higher_is_better": True, "format": rows.format_rps},
    "p99": {"higher_is_better": False, "format": rows.format_ms},
    "wrk_rps": {"higher_is_better": True, "format": rows.format_rps},
}

ONLY_IN_A = "only in A"
ONLY_IN_B = "only in B"

Key = tuple  # (server, scenario, app, users, rate, workers, threads, aa_twin)


# --------------------------------------------------------------------------------------------
# Matching cells.
# --------------------------------------------------------------------------------------------


def cell_key(cell: Cell) -> Key:
    """What makes two cells the same measurement: server and its settings, scenario, app, load."""
    return (cell.server, cell.scenario, cell.app, cell.users, cell.rate, cell.workers, cell.threads, cell.aa_twin)


def index_cells(run: Run) -> tuple[dict[Key, Cell], list[Key]]:
    """Cells by key, first occurrence kept, plus the keys seen more than once.

    A run should hold each key once; a duplicate is reported rather than silently overwriting.
    """
    cells: dict[Key, Cell] = {}
    duplicates: list[Key] = []
    for cell in run.cells:
        key = cell_key(cell)
        if key in cells:
            duplicates.append(key)
        else:
            cells[key] = cell
    return cells, duplicates


@dataclasses.dataclass
class Pair:
    """One measurement key and its cell in each run (None on the side that lacks it)."""

    key: Key
    a: Cell | None
    b: Cell | None
    floors: dict = dataclasses.field(default_factory=dict)  # figure -> the runs' noise floor, %

    @property
    def side(self) -> str:
        """``both``, or which single run holds the cell."""
        if self.a is None:
            return ONLY_IN_B
        if self.b is None:
            return ONLY_IN_A
        return "both"

    @property
    def server(self) -> str:
        return self.key[0]

    @property
    def scenario(self) -> str:
        return self.key[1]

    @property
    def generator_bound(self) -> list[str]:
        """The sides whose ok cell was capped by the load generator."""
        return [side for side, cell in (("A", self.a), ("B", self.b))
                if cell is not None and lower_bound(cell)]

    @property
    def failed(self) -> list[str]:
        return [side for side, cell in (("A", self.a), ("B", self.b)) if cell is not None and not cell.ok]


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _order(run: Run, option: str, attribute: str) -> list[str]:
    """Servers or scenarios in the order the run asked for them, then as they appear in cells."""
    options = run.meta.get("options") or {}
    return _unique(list(options.get(option) or []) + [getattr(cell, attribute) for cell in run.cells])


def pair_cells(run_a: Run, run_b: Run) -> list[Pair]:
    """Every key of either run, paired, ordered by scenario, server, app and load.

    The order follows run A's plan, then run B's, so both reports read in the order the runs did.
    """
    cells_a, _ = index_cells(run_a)
    cells_b, _ = index_cells(run_b)
    scenarios = _unique(_order(run_a, "scenarios", "scenario") + _order(run_b, "scenarios", "scenario"))
    servers = _unique(_order(run_a, "servers", "server") + _order(run_b, "servers", "server"))

    def position(key: Key) -> tuple:
        server, scenario, app, users, rate, workers, threads, twin = key
        return (scenarios.index(scenario), servers.index(server), workers or 0, threads or 0, twin, app,
                users or 0, -1 if rate is None else rate)

    keys = sorted(set(cells_a) | set(cells_b), key=position)
    floors = noise_floors(run_a, run_b)
    return [Pair(key, cells_a.get(key), cells_b.get(key), floors) for key in keys]


def noise_floors(run_a: Run, run_b: Run) -> dict[str, float]:
    """Per figure, the larger of the two runs' A/A noise floors (``meta.noise_floor``), in %.

    Two cells of one configuration differed by that much within a run, so a change smaller than
    it between runs is not evidence, even when the repeats' ranges happen not to overlap.
    """
    fields = {"rps": "rps_diff_pct", "wrk_rps": "rps_diff_pct", "p99": "p99_diff_pct"}
    floors = {}
    for name, field in fields.items():
        values = [(run.meta.get("noise_floor") or {}).get(field) for run in (run_a, run_b)]
        values = [value for value in values if value is not None]
        if values:
            floors[name] = max(values)
    return floors


# --------------------------------------------------------------------------------------------
# Judging one figure of one pair.
# --------------------------------------------------------------------------------------------


def figure_value(cell: Cell | None, name: str) -> float | None:
    """A cell's headline figure (the median over repeats): rps, wrk_rps, or p99 latency in ms."""
    if cell is None or not cell.ok:
        return None
    if name == "p99":
        return (cell.latency_ms or {}).get("p99")
    return getattr(cell, name)


def figure_spread(cell: Cell, name: str) -> dict | None:
    """The figure's spread over repeats; absent in schema-1 documents, which had no repeats."""
    return (cell.spread or {}).get(name)


def judge(pair: Pair, name: str) -> str:
    """The verdict for one figure, in ``lab.stats.verdict``'s words, or why there is none.

    A run without a recorded spread (schema 1, or a single round) has figures but no repeats, which
    is said as such rather than as "not comparable".
    """
    if pair.side != "both":
        return pair.side
    if pair.failed:
        return f"not comparable: {' and '.join(pair.failed)} failed"
    if figure_value(pair.a, name) is None or figure_value(pair.b, name) is None:
        return "not comparable: no figure"
    before, after = figure_spread(pair.a, name), figure_spread(pair.b, name)
    if not before or not after:
        return "no repeats to judge noise"
    verdict = stats.verdict(before, after, higher_is_better=FIGURES[name]["higher_is_better"])
    change = stats.change_pct(figure_value(pair.a, name), figure_value(pair.b, name))
    floor = pair.floors.get(name)
    if verdict in ("faster", "slower") and floor is not None and change is not None and abs(change) < floor:
        return "within noise"  # the ranges do not overlap, but the A/A pair moved as much
    return verdict


def verdict_class(verdict: str) -> str:
    """A CSS class for a verdict: faster is good, slower is bad, anything else is neutral."""
    return {"faster": "good", "slower": "bad", "within noise": "noise"}.get(verdict, "none")


# --------------------------------------------------------------------------------------------
# Formatting.
# --------------------------------------------------------------------------------------------


def format_change(pct: float | None) -> str:
    """A signed change in percent, so "+" and "−" are never left to the reader to infer."""
    if pct is None:
        return rows.MISSING
    return f"{pct:+.1f} %".replace("-", "−")


def format_load(users: int | None, rate: float | None) -> str:
    """The load a cell was measured under: closed-loop users, or a fixed arrival rate."""
    text = f"{users} users" if users else "users unknown"
    return f"{text}, {rate:g} req/s" if rate is not None else text


def format_spread(figures: dict | None, fmt) -> str:
    """Min–max over the repeats, their CV and count: the evidence the verdict is judged on."""
    if not figures:
        return ""
    if figures.get("n", 0) < 2:
        return f"n={figures.get('n', 1)}"
    cv = figures.get("cv_pct")
    cv_text = rows.MISSING if cv is None else f"{cv:.1f} %"
    return f"{fmt(figures['min'])}–{fmt(figures['max'])}, CV {cv_text}, n={figures['n']}"


def side_text(cell: Cell | None, name: str) -> str:
    """One side's figure: "failed" for a failed cell (its error is in the notes), never 0."""
    if cell is None:
        return rows.MISSING
    if not cell.ok:
        return "failed"
    value = figure_value(cell, name)
    if name == "p99":
        return rows.format_ms(value)
    return rows.format_rps(value, lower_bound=name == "rps" and lower_bound(cell))


def side_spread(cell: Cell | None, name: str) -> str:
    if cell is None or not cell.ok:
        return ""
    return format_spread(figure_spread(cell, name), FIGURES[name]["format"])


# --------------------------------------------------------------------------------------------
# Rows, notes and the header.
# --------------------------------------------------------------------------------------------


def setting_differences(a: Cell, b: Cell) -> list[str]:
    """The cell's own settings that changed: then the change is a configuration change."""
    return [f"{label} differs: {rows.format_value(getattr(a, attr))} → {rows.format_value(getattr(b, attr))}"
            for attr, label in CELL_SETTINGS if getattr(a, attr) != getattr(b, attr)]


def pair_notes(pair: Pair) -> list[str]:
    """Everything a reader must know before reading a row's change as the server's."""
    notes = []
    for side, cell in (("A", pair.a), ("B", pair.b)):
        if cell is None:
            continue
        if not cell.ok:
            notes.append(f"{side} failed: {cell.error or 'no reason recorded'}")
        elif lower_bound(cell):
            notes.append(f"{side} generator-bound: its rps is a lower bound, so the rps change is "
                         f"not a server change")
        if cell.ok and cell.noisy:
            cv = (figure_spread(cell, "rps") or {}).get("cv_pct")
            notes.append(f"{side} noisy: rps CV {rows.format_pct(cv)} % over repeats")
    if pair.side == "both" and not pair.failed:  # a failed cell's settings may never have been set
        notes += setting_differences(pair.a, pair.b)
    return notes


def figure_columns(pair: Pair, name: str) -> dict:
    """A, B, their spreads, the change and the verdict of one figure."""
    change = stats.change_pct(figure_value(pair.a, name), figure_value(pair.b, name))
    verdict = judge(pair, name)
    return {"a": side_text(pair.a, name), "b": side_text(pair.b, name),
            "a_spread": side_spread(pair.a, name), "b_spread": side_spread(pair.b, name),
            "change": format_change(change), "verdict": verdict, "class": verdict_class(verdict)}


def pair_row(pair: Pair) -> dict:
    """One row of a scenario's table."""
    server, _scenario, app, users, rate, _workers, _threads, twin = pair.key
    rps = figure_columns(pair, "rps")
    if pair.generator_bound:
        rps["class"] = "none"  # a generator's change must not be coloured as a server's win or loss
    return {
        "server": server + (" (A/A twin)" if twin else ""),
        "app": app, "load": format_load(users, rate), "side": pair.side,
        "generator_bound": pair.generator_bound, "failed": pair.failed,
        "rps": rps, "p99": figure_columns(pair, "p99"),
        "wrk": figure_columns(pair, "wrk_rps"),
        "has_wrk": any(figure_value(c, "wrk_rps") is not None for c in (pair.a, pair.b)),
        "notes": pair_notes(pair),
    }


VERDICT_ORDER = ("faster", "slower", "within noise", "no repeats to judge noise")


def _in_verdict_order(counts: collections.Counter) -> list[tuple[str, int]]:
    """Verdict counts, the decisive ones first, so the summary reads the same in every comparison."""
    rank = {verdict: i for i, verdict in enumerate(VERDICT_ORDER)}
    return sorted(counts.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def summary(pairs: list[Pair]) -> dict:
    """Verdict counts over the pairs whose rps change can be the server's, and the rest by kind."""
    rps = collections.Counter()
    p99 = collections.Counter()
    for pair in pairs:
        if pair.side != "both" or pair.failed:
            continue
        p99[judge(pair, "p99")] += 1
        if not pair.generator_bound:
            rps[judge(pair, "rps")] += 1
    return {
        "rps": _in_verdict_order(rps), "p99": _in_verdict_order(p99),
        "matched": sum(1 for p in pairs if p.side == "both"),
        "generator_bound": sum(1 for p in pairs if p.side == "both" and p.generator_bound and not p.failed),
        "failed": sum(1 for p in pairs if p.side == "both" and p.failed),
        "only_a": sum(1 for p in pairs if p.side == ONLY_IN_A),
        "only_b": sum(1 for p in pairs if p.side == ONLY_IN_B),
    }


def _get(meta: dict, *path: str):
    for name in path:
        meta = meta.get(name) if isinstance(meta, dict) else None
    return meta


def _python(meta: dict) -> str | None:
    python = meta.get("python") or {}
    parts = [python.get("implementation"), python.get("version")]
    return " ".join(p for p in parts if p) or None


def environment_differences(meta_a: dict, meta_b: dict) -> list[dict]:
    """Every difference outside the servers' code that can move a figure, with both values.

    Host CPU, environment (local or containers), kernel, Python and package versions, CPU pinning,
    the generator-bound threshold, container limits and the run options.  Values missing on one side
    (an older document) are listed too: equality cannot be assumed.
    """
    checks = [
        ("host CPU model", _get(meta_a, "host", "cpu_model"), _get(meta_b, "host", "cpu_model")),
        ("host CPU count", _get(meta_a, "host", "cpu_count"), _get(meta_b, "host", "cpu_count")),
        ("environment", meta_a.get("environment"), meta_b.get("environment")),
        ("kernel", _get(meta_a, "host", "kernel"), _get(meta_b, "host", "kernel")),
        ("python", _python(meta_a), _python(meta_b)),
        ("server CPUs", rows.format_cpus(_get(meta_a, "cpus", "server")), rows.format_cpus(_get(meta_b, "cpus", "server"))),
        ("generator CPUs", rows.format_cpus(_get(meta_a, "cpus", "generator")),
         rows.format_cpus(_get(meta_b, "cpus", "generator"))),
        ("generator-bound threshold %", meta_a.get("generator_bound_cpu_pct"), meta_b.get("generator_bound_cpu_pct")),
    ]
    packages_a, packages_b = meta_a.get("packages") or {}, meta_b.get("packages") or {}
    for name in sorted(set(packages_a) | set(packages_b), key=str.lower):
        checks.append((f"package {name}", packages_a.get(name), packages_b.get(name)))
    containers_a, containers_b = meta_a.get("containers") or {}, meta_b.get("containers") or {}
    for service in sorted(set(containers_a) & set(containers_b)):
        for field, label in CONTAINER_LIMITS:
            checks.append((f"container {service} {label}", containers_a[service].get(field),
                           containers_b[service].get(field)))
    options_a, options_b = meta_a.get("options") or {}, meta_b.get("options") or {}
    for name in _unique([*options_a, *options_b]):
        if name not in IGNORED_OPTIONS:
            checks.append((f"option {name}", options_a.get(name), options_b.get(name)))
    return [{"what": what, "a": rows.format_value(a), "b": rows.format_value(b)} for what, a, b in checks if a != b]


def run_header(meta: dict, run_dir: Path) -> dict:
    """What identifies a run in the header: id, revision, dates, environment, host."""
    return {
        "run_id": meta.get("run_id") or Path(run_dir).name,
        "path": str(run_dir),
        "revision": rows.format_revision(meta.get("lab")),
        "status": meta.get("status") or "unknown",
        "started_at": meta.get("started_at") or rows.MISSING,
        "environment": meta.get("environment") or rows.MISSING,
        "host": rows.format_host(meta.get("host")),
        "python": _python(meta) or rows.MISSING,
    }


def duplicate_notes(run: Run, side: str) -> list[str]:
    """Keys a run holds more than once: only the first cell of each is compared."""
    _, duplicates = index_cells(run)
    return [f"run {side} holds {server} / {scenario} / {app} / {format_load(users, rate)} more than once; "
            f"only its first cell is compared" for server, scenario, app, users, rate, *_ in duplicates]


def context(run_a: Run, run_b: Run, dir_a: Path, dir_b: Path) -> dict:
    """The template context shared by both outputs (the HTML one adds its charts)."""
    pairs = pair_cells(run_a, run_b)
    scenarios = _unique(pair.scenario for pair in pairs)
    tables = []
    for scenario in scenarios:
        table = [pair_row(pair) for pair in pairs if pair.scenario == scenario]
        tables.append({"name": scenario, "rows": table, "has_wrk": any(row["has_wrk"] for row in table)})
    return {
        "floors": noise_floors(run_a, run_b),
        "a": run_header(run_a.meta, dir_a),
        "b": run_header(run_b.meta, dir_b),
        "differences": environment_differences(run_a.meta, run_b.meta),
        "duplicates": duplicate_notes(run_a, "A") + duplicate_notes(run_b, "B"),
        "noisy_cv_pct": f"{stats.NOISY_CV_PCT:g}",
        "summary": summary(pairs),
        "scenarios": tables,
    }


# --------------------------------------------------------------------------------------------
# Charts.
# --------------------------------------------------------------------------------------------

def _tick_label(pair: Pair, several_loads: bool) -> str:
    """Server name, the load when a scenario has several, and which side was generator-bound."""
    label = pair.server
    if several_loads:
        label += f"\n{format_load(pair.key[3], pair.key[4])}"
    if pair.generator_bound:
        label += f"\n({' and '.join(pair.generator_bound)} generator-bound)"
    return label


def compare_charts(run_a: Run, run_b: Run, name_a: str, name_b: str) -> dict[str, markupsafe.Markup]:
    """One chart per scenario that has something to draw, marked safe for the HTML template."""
    pairs = pair_cells(run_a, run_b)
    out = {}
    for scenario in _unique(pair.scenario for pair in pairs):
        shown = [pair for pair in pairs if pair.scenario == scenario]
        several_loads = len({pair.key[2:5] for pair in shown}) > 1
        svg = charts.chart_compare(shown, [_tick_label(pair, several_loads) for pair in shown], scenario,
                                   name_a, name_b)
        if svg:
            out[scenario] = markupsafe.Markup(svg)
    return out


# --------------------------------------------------------------------------------------------
# Rendering and writing.
# --------------------------------------------------------------------------------------------


def render_markdown(ctx: dict) -> str:
    """The comparison as Markdown, readable in a terminal or a code review."""
    text = environment("md").get_template("compare.md.j2").render(ctx)
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(ctx: dict, chart_svgs: dict) -> str:
    """The comparison as one self-contained HTML file: inline CSS and SVG, no outside URL."""
    return environment("html").get_template("compare.html.j2").render(**ctx, charts=chart_svgs)


def write_comparison(run_a_dir: Path, run_b_dir: Path, out_dir: Path) -> list[Path]:
    """Compare the runs in ``run_a_dir`` (before) and ``run_b_dir`` (after); write both outputs.

    Returns the paths written: ``compare.md`` and ``compare.html`` in ``out_dir`` (created).
    """
    run_a_dir, run_b_dir, out_dir = Path(run_a_dir), Path(run_b_dir), Path(out_dir)
    run_a, run_b = load(run_a_dir), load(run_b_dir)
    ctx = context(run_a, run_b, run_a_dir, run_b_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [
        (out_dir / COMPARE_MD, render_markdown(ctx)),
        (out_dir / COMPARE_HTML, render_html(ctx, compare_charts(run_a, run_b, ctx["a"]["run_id"], ctx["b"]["run_id"]))),
    ]
    for path, text in outputs:
        write_atomic(path, text)
    return [path for path, _ in outputs]
