"""Render a run's result document as a Markdown report and a self-contained HTML report.

A report is a pure function of the document that ``lab.results`` writes (``results.json``): it
reads nothing else, so any old run can be re-rendered, and the same document always gives the
same report.  Figures are formatted here and only placed by the Jinja2 templates in
``lab/templates``; the HTML report carries its CSS and its charts (matplotlib SVG) inline, so it
can be mailed or archived as a single file and opened without network access.

Two rules shape everything below:

* A figure that was not measured is shown as "—", never as 0, and a failed cell keeps its error.
* A generator-bound cell (the load generator's core was saturated) only gives a lower bound of the
  server's throughput, so it is marked "≥", drawn hatched, and never ranked among server-bound
  cells.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import re
import shlex
import tempfile
from pathlib import Path

import jinja2
import markupsafe
import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from lab.results import GENERATOR_BOUND_CPU_PCT, Cell, Run, load

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TEMPLATES = Path(__file__).parent / "templates"

#: Shown wherever a figure is missing; a missing figure must never read as a measured zero.
MISSING = "—"

#: Latency percentiles drawn in the latency chart, with their column titles.
PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"))


# --------------------------------------------------------------------------------------------
# Formatting: one small function per kind of figure, each mapping None to MISSING.
# --------------------------------------------------------------------------------------------


def format_ms(value: float | None) -> str:
    """A latency in milliseconds: 3 decimals below 1 ms, where the HDR histogram's microsecond
    precision matters, fewer above, where it would only be noise."""
    if value is None:
        return MISSING
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    return f"{value:,.1f}"


def format_rps(value: float | None, lower_bound: bool = False) -> str:
    """Requests per second; ``lower_bound`` prefixes "≥" because a generator-bound cell only
    shows how much the generator could send, not how much the server could take."""
    if value is None:
        return MISSING
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"≥ {text}" if lower_bound else text


def format_pct(value: float | None) -> str:
    """A CPU percentage (100 = one full core) with one decimal."""
    return MISSING if value is None else f"{value:.1f}"


def format_mb(value: float | None) -> str:
    """A resident set size in MB with one decimal."""
    return MISSING if value is None else f"{value:,.1f}"


def format_count(value: int | None) -> str:
    """A count with thousands separators, so request totals can be compared at a glance."""
    return MISSING if value is None else f"{value:,}"


def format_failures(failures: int | None, requests: int | None) -> str:
    """``failures / requests``: both numbers, so a handful of failures is not hidden in a rate."""
    if failures is None and requests is None:
        return MISSING
    return f"{format_count(failures)} / {format_count(requests)}"


def format_generator_cpu(cell: Cell) -> str:
    """locust's CPU %, plus its cores' total busy % where that is what made the cell generator-bound."""
    own = format_pct(cell.generator_cpu_pct)
    busy = cell.generator_cores_busy_pct
    if busy is None or cell.generator_cpu_pct is None or busy - cell.generator_cpu_pct < 5:
        return own
    return f"{own} (cores {format_pct(busy)} busy)"


def format_limit(cell: Cell) -> str:
    """What capped the cell, in words a reader cannot mistake for a server ranking."""
    if not cell.ok:
        return f"failed: {cell.error or 'no reason recorded'}"
    if cell.limit == "generator":
        return "generator-bound (lower bound)"
    if cell.limit == "server":
        return "server"
    return "unknown (no generator CPU figure)"


def format_command(argv: list[str] | None) -> str:
    """The exact server command line, quoted so it can be pasted into a shell."""
    return shlex.join(argv) if argv else MISSING


def format_cpus(cpus: list[int] | None) -> str:
    """A CPU set as ranges ("0-3, 6"), the way ``taskset -c`` takes it."""
    if not cpus:
        return "not pinned"
    ordered = sorted(set(cpus))
    parts: list[str] = []
    start = prev = ordered[0]
    for cpu in ordered[1:] + [None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ", ".join(parts)


def format_value(value) -> str:
    """An option or metadata value: lists joined, booleans as yes/no, None as MISSING."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value) or MISSING
    if isinstance(value, dict):
        return ", ".join(f"{key}={format_value(item)}" for key, item in value.items()) or MISSING
    return str(value)


def format_revision(lab: dict | None) -> str:
    """The lab's git revision, flagged when the working tree had uncommitted changes."""
    lab = lab or {}
    revision = lab.get("revision") or "unknown"
    return f"{revision} (dirty: uncommitted changes)" if lab.get("dirty") else revision


def format_host(host: dict | None) -> str:
    """CPU model and count, the first thing to check before comparing two runs."""
    host = host or {}
    model = host.get("cpu_model") or "unknown CPU"
    count = host.get("cpu_count")
    return f"{model}, {count} CPUs" if count else model


def format_failure_kinds(kinds: dict[str, int] | None) -> str:
    """Request failure messages with their counts, most frequent first."""
    if not kinds:
        return ""
    ordered = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(f"{message} ×{count:,}" for message, count in ordered)


# --------------------------------------------------------------------------------------------
# The view model: what both templates show, computed once from the document.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """One server's place in a scenario: its cell, or why there is none."""

    server: str
    cell: Cell | None
    missing: str | None = None  # "unavailable: ..." or "not run" when there is no cell

    @property
    def measured(self) -> bool:
        """True when the cell has a throughput that may be drawn and compared."""
        return self.cell is not None and self.cell.ok and self.cell.rps is not None

    @property
    def gap_label(self) -> str:
        """The word drawn in place of a bar when there is no figure to draw."""
        if self.cell is not None:
            return "failed" if not self.cell.ok else "no figure"
        return "unavailable" if (self.missing or "").startswith("unavailable") else "not run"


def threshold(run: Run) -> float:
    """The generator CPU % at which a cell counts as generator-bound, as recorded by the run."""
    value = run.meta.get("generator_bound_cpu_pct")
    return float(value) if value is not None else GENERATOR_BOUND_CPU_PCT


def _unique(items) -> list:
    seen: dict = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def server_order(run: Run) -> list[str]:
    """Servers in the order the run was asked for, then any others that appear in the document."""
    options = run.meta.get("options") or {}
    return _unique(
        list(options.get("servers") or [])
        + [cell.server for cell in run.cells]
        + list((run.meta.get("servers") or {}).keys())
    )


def scenario_order(run: Run) -> list[str]:
    """Scenarios in the order the run was asked for, then any others found in cells."""
    options = run.meta.get("options") or {}
    return _unique(list(options.get("scenarios") or []) + [cell.scenario for cell in run.cells])


def scenario_entries(run: Run, scenario: str) -> list[Entry]:
    """Every server of the run for one scenario, so a missing cell is visible rather than absent."""
    servers_meta = run.meta.get("servers") or {}
    cells = {cell.server: cell for cell in run.cells if cell.scenario == scenario}
    entries = []
    for server in server_order(run):
        if server in cells:
            entries.append(Entry(server, cells[server]))
            continue
        info = servers_meta.get(server) or {}
        if info.get("available") is False:
            entries.append(Entry(server, None, f"unavailable: {info.get('reason') or 'no reason recorded'}"))
        else:
            entries.append(Entry(server, None, "not run"))
    return entries


def _row(entry: Entry, rank: int | None, group: str) -> dict:
    cell = entry.cell
    if cell is None:
        blank = {key: MISSING for key in ("rps", "server_cpu", "server_rss", "generator_cpu", "failures")}
        blank.update({title: MISSING for _, title in PERCENTILES})
        return {
            "group": group, "rank": None, "server": entry.server, "max": MISSING,
            "limit": entry.missing, **blank,
        }
    latency = cell.latency_ms or {}
    row = {
        "group": group,
        "rank": rank,
        "server": cell.server,
        "rps": format_rps(cell.rps, lower_bound=cell.ok and cell.generator_bound),
        "max": format_ms(latency.get("max")),
        "failures": format_failures(cell.failures, cell.requests),
        "server_cpu": format_pct(cell.server_cpu_pct),
        "server_rss": format_mb(cell.server_rss_mb),
        "generator_cpu": format_generator_cpu(cell),
        "limit": format_limit(cell),
    }
    row.update({title: format_ms(latency.get(key)) for key, title in PERCENTILES})
    return row


def scenario_rows(run: Run, scenario: str) -> list[dict]:
    """A scenario's table rows in clearly separated groups.

    Only server-bound ok cells are ranked (by rps, highest first): their rps is the server's
    capacity.  Generator-bound cells follow, unranked, because their rps is only a lower bound and
    ranking it against real capacities would be wrong in either direction.  Then ok cells whose
    limit is unknown, failed cells, and servers without a cell.
    """
    groups: dict[str, list[Entry]] = {"server": [], "generator": [], "unknown": [], "failed": [], "missing": []}
    for entry in scenario_entries(run, scenario):
        cell = entry.cell
        if cell is None:
            groups["missing"].append(entry)
        elif not cell.ok:
            groups["failed"].append(entry)
        elif cell.limit == "server" and cell.rps is not None:
            groups["server"].append(entry)
        elif cell.limit == "generator":
            groups["generator"].append(entry)
        else:
            groups["unknown"].append(entry)
    by_rps = lambda entry: -(entry.cell.rps if entry.cell and entry.cell.rps is not None else -1)  # noqa: E731
    rows = [_row(entry, rank, "server") for rank, entry in enumerate(sorted(groups["server"], key=by_rps), 1)]
    for group in ("generator", "unknown"):
        rows += [_row(entry, None, group) for entry in sorted(groups[group], key=by_rps)]
    rows += [_row(entry, None, "failed") for entry in groups["failed"]]
    rows += [_row(entry, None, "missing") for entry in groups["missing"]]
    return rows


def server_rows(run: Run) -> list[dict]:
    """One row per server: version, model, workers/threads and the exact command(s) it ran with."""
    servers_meta = run.meta.get("servers") or {}
    rows = []
    for server in server_order(run):
        info = servers_meta.get(server) or {}
        cells = [cell for cell in run.cells if cell.server == server]
        models = _unique([cell.server_model for cell in cells if cell.server_model]) or [info.get("model")]
        shapes = _unique([f"{cell.workers} / {cell.threads}" for cell in cells])
        commands = _unique([format_command(cell.server_command) for cell in cells if cell.server_command])
        warnings = _unique(w for cell in cells for w in (cell.verification or {}).get("warnings") or [])
        available = info.get("available")
        rows.append({
            "server": server,
            "version": info.get("version") or MISSING,
            "available": "unavailable: " + (info.get("reason") or "no reason recorded") if available is False else "",
            "model": format_value([m for m in models if m]) if any(models) else MISSING,
            "shape": ", ".join(shapes) if shapes else MISSING,
            "commands": commands,
            "warnings": warnings if cells else None,
        })
    return rows


def caveats(run: Run) -> dict:
    """Everything a reader must know before trusting a number, gathered for the top of the report."""
    meta = run.meta
    servers_meta = meta.get("servers") or {}
    ok = [cell for cell in run.cells if cell.ok]
    cpus = meta.get("cpus") or {}
    shared = sorted(set(cpus.get("server") or []) & set(cpus.get("generator") or []))
    return {
        "generator_bound": [
            {"scenario": c.scenario, "server": c.server, "rps": format_rps(c.rps, True),
             "generator_cpu": format_generator_cpu(c)}
            for c in ok if c.limit == "generator"
        ],
        "unknown_limit": [{"scenario": c.scenario, "server": c.server} for c in ok if c.limit not in ("generator", "server")],
        "failed": [
            {"scenario": c.scenario, "server": c.server, "error": c.error or "no reason recorded",
             "problems": [p for p in (c.verification or {}).get("problems") or [] if p not in (c.error or "")]}
            for c in run.cells if not c.ok
        ],
        "request_failures": [
            {"scenario": c.scenario, "server": c.server, "failures": format_failures(c.failures, c.requests),
             "kinds": format_failure_kinds(c.failure_kinds)}
            for c in ok if c.failures
        ],
        "notes": [
            {"server": server, "notes": list((servers_meta.get(server) or {}).get("notes") or [])}
            for server in server_order(run) if (servers_meta.get(server) or {}).get("notes")
        ],
        "unavailable": [
            {"server": server, "reason": (servers_meta.get(server) or {}).get("reason") or "no reason recorded"}
            for server in server_order(run) if (servers_meta.get(server) or {}).get("available") is False
        ],
        "shared_cpus": format_cpus(shared) if shared else "",
        "dirty": bool((meta.get("lab") or {}).get("dirty")),
    }


def status_text(run: Run) -> tuple[str, str]:
    """The run's status and, unless it completed, a plain sentence on what the report is missing."""
    status = run.meta.get("status") or "unknown"
    if status == "complete":
        return status, ""
    options = run.meta.get("options") or {}
    planned = len(options.get("servers") or []) * len(options.get("scenarios") or [])
    of = f" of {planned} planned server × scenario cells" if planned else ""
    if status == "interrupted":
        return status, (
            f"This run was interrupted before it finished: only the {len(run.cells)} cells that "
            f"finished{of} are shown, and servers or scenarios it never reached are marked \"not run\"."
        )
    return status, (
        f"This run did not complete (status \"{status}\"): only the {len(run.cells)} cells recorded"
        f"{of} are shown."
    )


def container_rows(containers: dict) -> list[dict]:
    """Each container's image and limits, as recorded by a container run (empty for local runs)."""
    return [{"service": service, "image": f"{c.get('image') or MISSING} ({(c.get('image_id') or '')[7:19]})",
             "cpuset": c.get("cpuset") or MISSING, "cpus": format_value(c.get("cpus")),
             "memory": format_mb(c.get("memory_mb")), "command": format_command(c.get("command") or [])}
            for service, c in sorted(containers.items())]


def context(run: Run) -> dict:
    """The template context shared by both reports (the HTML one adds its charts)."""
    meta = run.meta
    status, status_note = status_text(run)
    python = meta.get("python") or {}
    cpus = meta.get("cpus") or {}
    return {
        "run_id": meta.get("run_id") or "unknown",
        "status": status,
        "status_note": status_note,
        "revision": format_revision(meta.get("lab")),
        "started_at": meta.get("started_at") or MISSING,
        "finished_at": meta.get("finished_at") or MISSING,
        "environment": meta.get("environment") or MISSING,
        "host": format_host(meta.get("host")),
        "host_platform": (meta.get("host") or {}).get("platform") or MISSING,
        "host_kernel": (meta.get("host") or {}).get("kernel") or MISSING,
        "server_cpus": format_cpus(cpus.get("server")),
        "generator_cpus": format_cpus(cpus.get("generator")),
        "threshold": f"{threshold(run):g}",
        "options": [(key, format_value(value)) for key, value in (meta.get("options") or {}).items()],
        "caveats": caveats(run),
        "scenarios": [{"name": s, "rows": scenario_rows(run, s)} for s in scenario_order(run)],
        "servers": server_rows(run),
        "python": [
            ("version", python.get("version") or MISSING),
            ("implementation", python.get("implementation") or MISSING),
            ("executable", python.get("executable") or MISSING),
        ],
        "packages": [(name, format_value(version)) for name, version in sorted((meta.get("packages") or {}).items(), key=lambda kv: kv[0].lower())],
        "containers": container_rows(meta.get("containers") or {}),
        "percentiles": [title for _, title in PERCENTILES],
        "counts": {
            "cells": len(run.cells),
            "ok": sum(1 for c in run.cells if c.ok),
            "failed": sum(1 for c in run.cells if not c.ok),
        },
    }


# --------------------------------------------------------------------------------------------
# Charts: matplotlib figures rendered to inline SVG.
# --------------------------------------------------------------------------------------------

#: Hatch drawn on generator-bound bars, the visual twin of "≥" in the tables.
LOWER_BOUND_HATCH = "///"
SERVER_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")
PERCENTILE_COLORS = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")


def server_colors(run: Run) -> dict[str, str]:
    """One fixed colour per server, so a server looks the same in every chart of the report."""
    return {server: SERVER_COLORS[i % len(SERVER_COLORS)] for i, server in enumerate(server_order(run))}


def svg_from_figure(fig: Figure, salt: str, label: str) -> str:
    """Serialise a figure as an inline ``<svg>`` element.

    Text stays text (``svg.fonttype: none``) so no glyph definitions are repeated across charts;
    the hash salt makes clip-path ids unique per chart yet stable between renders; the date and
    the RDF ``<metadata>`` block (which names outside URLs) are dropped along with the XML prologue,
    which is not allowed inside HTML.
    """
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    label = markupsafe.escape(label)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _gap(ax, x: float, text: str) -> None:
    """Write why a server has no bar where its bar would be, near the axis, never as a 0 bar."""
    ax.text(x, 0.03, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
            fontsize=9, style="italic", color="#555555")


def _tick_label(entry: Entry) -> str:
    cell = entry.cell
    if cell is not None and cell.ok and cell.generator_bound:
        return f"{entry.server}\n(generator-bound)"
    return entry.server


def chart_rps(run: Run, scenario: str) -> str:
    """Throughput per server for one scenario.

    Server-bound bars are solid; generator-bound bars are hatched and labelled "≥ … lower bound"
    because the server may well be faster; failed, unavailable or unrun servers get a labelled gap
    instead of a zero-height bar.
    """
    entries = scenario_entries(run, scenario)
    colors = server_colors(run)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    top = max((e.cell.rps for e in entries if e.measured), default=1.0) or 1.0
    for x, entry in enumerate(entries):
        if not entry.measured:
            _gap(ax, x, entry.gap_label)
            continue
        cell = entry.cell
        bound = cell.generator_bound
        ax.bar(x, cell.rps, width=0.6, color=colors[entry.server] if not bound else "white",
               edgecolor=colors[entry.server], hatch=LOWER_BOUND_HATCH if bound else None, linewidth=1.5)
        label = format_rps(cell.rps, lower_bound=bound) + ("\nlower bound" if bound else "")
        ax.annotate(label, (x, cell.rps), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e) for e in entries])
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylim(0, top * 1.18)  # room for the value labels above the bars
    ax.set_ylabel("requests / s")
    ax.set_title(f"{scenario}: throughput")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(facecolor="#888888", edgecolor="#888888", label="server-bound")]
    if any(e.measured and e.cell.generator_bound for e in entries):
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch=LOWER_BOUND_HATCH,
                             label="generator-bound: ≥ lower bound"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"rps-{scenario}", f"{scenario}: requests per second by server")


def chart_latency(run: Run, scenario: str) -> str:
    """Latency percentiles per server for one scenario, grouped bars on a log axis.

    A log axis keeps p50 (often sub-millisecond) and p99.9 (often tens of ms) readable on one chart.
    Generator-bound servers are hatched: their latencies include the generator's own queuing.
    """
    entries = scenario_entries(run, scenario)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(PERCENTILES)
    drawn: list[float] = []
    for x, entry in enumerate(entries):
        latency = (entry.cell.latency_ms or {}) if entry.measured else {}
        values = [latency.get(key) for key, _ in PERCENTILES]
        if not any(v is not None and v > 0 for v in values):
            _gap(ax, x, entry.gap_label if not entry.measured else "no latency")
            continue
        bound = entry.cell.generator_bound
        for i, value in enumerate(values):
            if value is None or value <= 0:
                continue
            ax.bar(x - 0.4 + width * (i + 0.5), value, width=width, color=PERCENTILE_COLORS[i],
                   edgecolor="#333333" if bound else PERCENTILE_COLORS[i],
                   hatch=LOWER_BOUND_HATCH if bound else None, linewidth=0.6)
            drawn.append(value)
    if drawn:
        # Bars grow from a whole decade at least 2x below the smallest value, so the shortest bar
        # still has a visible height; ticks read as plain numbers (0.1, 1, 10), not powers of ten.
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(drawn) / 2)), max(drawn) * 2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e) for e in entries])
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(f"{scenario}: latency percentiles")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=color, label=title) for color, (_, title) in zip(PERCENTILE_COLORS, PERCENTILES)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"latency-{scenario}", f"{scenario}: latency percentiles by server")


def _series(samples: list[dict], key: str) -> tuple[list[float], list[float]]:
    """A sample series with missing points as NaN, so the line breaks instead of dropping to 0."""
    ts = [s.get("t", math.nan) for s in samples]
    values = [s.get(key) for s in samples]
    return ts, [math.nan if v is None else v for v in values]


def chart_timeline(run: Run, scenario: str) -> str | None:
    """Server CPU % and RSS over each cell's samples, one line per server; None without samples.

    The generator's CPU is drawn dashed next to the server's, with the generator-bound threshold,
    so a reader can see when the generator rather than the server was saturated.
    """
    entries = [e for e in scenario_entries(run, scenario) if e.cell is not None and e.cell.samples]
    if not entries:
        return None
    colors = server_colors(run)
    fig = Figure(figsize=(9.6, 4.4), layout="constrained")
    cpu_ax, rss_ax = fig.subplots(1, 2)
    for entry in entries:
        cell = entry.cell
        name = entry.server + ("" if cell.ok else " (failed)")
        color = colors[entry.server]
        cpu_ax.plot(*_series(cell.samples, "server_cpu_pct"), color=color, label=f"{name}: server")
        cpu_ax.plot(*_series(cell.samples, "generator_cpu_pct"), color=color, linestyle="--",
                    label=f"{name}: generator")
        rss_ax.plot(*_series(cell.samples, "server_rss_mb"), color=color, label=name)
    cpu_ax.axhline(threshold(run), color="#999999", linestyle=":", linewidth=1)
    cpu_ax.annotate(f"generator-bound at {threshold(run):g} %", (0, threshold(run)), xytext=(2, 2),
                    textcoords="offset points", xycoords=("axes fraction", "data"), fontsize=8, color="#666666")
    cpu_ax.set_ylim(bottom=0)
    cpu_ax.set_xlabel("seconds since cell start")
    cpu_ax.set_ylabel("CPU % (100 = one core)")
    cpu_ax.set_title(f"{scenario}: CPU (solid server, dashed generator)")
    cpu_ax.legend(fontsize=7, loc="lower right", frameon=False)
    rss_ax.set_ylim(bottom=0)
    rss_ax.set_xlabel("seconds since cell start")
    rss_ax.set_ylabel("server RSS, MB")
    rss_ax.set_title(f"{scenario}: server memory")
    rss_ax.legend(fontsize=7, loc="lower right", frameon=False)
    for ax in (cpu_ax, rss_ax):
        ax.grid(alpha=0.3)
    return svg_from_figure(fig, f"timeline-{scenario}", f"{scenario}: CPU and memory over time by server")


def charts(run: Run) -> dict[str, dict[str, markupsafe.Markup | None]]:
    """All charts of the HTML report, per scenario, marked safe for the autoescaping template."""
    out = {}
    for scenario in scenario_order(run):
        timeline = chart_timeline(run, scenario)
        out[scenario] = {
            "rps": markupsafe.Markup(chart_rps(run, scenario)),
            "latency": markupsafe.Markup(chart_latency(run, scenario)),
            "timeline": markupsafe.Markup(timeline) if timeline else None,
        }
    return out


# --------------------------------------------------------------------------------------------
# Rendering and writing.
# --------------------------------------------------------------------------------------------


def _md_flat(value) -> str:
    """One line with pipes escaped: GFM splits table cells on "|" even inside code spans."""
    text = "" if value is None else str(value)
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def md_cell(value) -> str:
    """Text safe inside a Markdown table cell or list item.

    Only a backslash that would escape punctuation is doubled, so ``b'\\r\\n'`` in an error
    message stays as readable in the raw file as in the rendered one.
    """
    text = "" if value is None else str(value)
    text = re.sub(r"\\(?=[!-/:-@\[-`{-~])", r"\\\\", text)
    return _md_flat(text)


def md_code(value) -> str:
    """An inline code span that survives backticks in the text (e.g. in an error message)."""
    text = _md_flat(value)
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@functools.cache
def _environment(kind: str) -> jinja2.Environment:
    """One Jinja2 environment per output kind; only HTML autoescapes."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=(kind == "html"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_cell
    env.filters["code"] = md_code
    return env


def render_markdown(run: Run) -> str:
    """The report as Markdown: the tables and caveats, readable in a terminal or a code review."""
    text = _environment("md").get_template("report.md.j2").render(context(run))
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(run: Run) -> str:
    """The report as one self-contained HTML file: inline CSS and inline SVG charts, no outside URL."""
    return _environment("html").get_template("report.html.j2").render(**context(run), charts=charts(run))


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and a rename, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(run_dir: Path) -> list[Path]:
    """Render ``results.json`` in ``run_dir`` to ``report.md`` and ``report.html`` beside it."""
    run_dir = Path(run_dir)
    run = load(run_dir)
    outputs = [(run_dir / REPORT_MD, render_markdown(run)), (run_dir / REPORT_HTML, render_html(run))]
    for path, text in outputs:
        _write_atomic(path, text)
    return [path for path, _ in outputs]
