"""Charts: matplotlib figures of a run's result document, rendered to SVG.

Every chart of the HTML report (``charts``) and of ``lab.report.compare`` is made here, from the
rows and verdicts; the capacity chart (``chart_capacity``) stands next to the verdict table.
"""

from __future__ import annotations

import io
import math
import re

import markupsafe
import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullLocator

from lab.report import figures, rows, verdicts
from lab.report.figures import lower_bound
from lab.results import Cell, Run
from lab.stats import knee


#: Hatch drawn on generator-bound bars, the visual twin of "≥" in the tables.
LOWER_BOUND_HATCH = "///"
SERVER_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#332288",
                 "#117733", "#882255", "#999933", "#44aa99")
PERCENTILE_COLORS = ("#c6dbef", "#6baed6", "#2171b5", "#08519c", "#08306b")


def server_colors(run: Run) -> dict[str, str]:
    """One fixed colour per configuration, so it looks the same in every chart of the report."""
    return {c.label: SERVER_COLORS[i % len(SERVER_COLORS)] for i, c in enumerate(rows.contenders(run))}


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


def _bar_size(entries: list[rows.Entry]) -> tuple[float, float]:
    """A bar chart's size: wider when many configurations share it."""
    return (6.4, 3.8) if len(entries) <= 4 else (7.6, 4.2)


def _tick_font(ax, entries: list[rows.Entry]) -> None:
    if len(entries) > 4:
        ax.tick_params(axis="x", labelsize=8)


def _tick_label(entry: rows.Entry) -> str:
    cell = entry.cell
    label = entry.server.replace(" ", "\n", 1)  # "gunicorn:gthread\n2w×8t": a configuration on two lines
    if cell is not None and lower_bound(cell):
        label += "\n(generator-bound)"
    if cell is not None and cell.ok and cell.wrk_rps is not None:
        label += f"\nwrk peak {rows.format_rps(cell.wrk_rps)}"
    return label


def log_scale(values: list[float]) -> bool:
    """A log axis when the values span more than 20×, e.g. locust's rps next to wrk's peak."""
    positive = [v for v in values if v is not None and v > 0 and not math.isnan(v)]
    return bool(positive) and max(positive) / min(positive) > 20


def _thousands(value, _pos=None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def chart_rps(run: Run, scenario: str, users: int | None = None) -> str:
    """Throughput per server for one scenario at one users step (the highest by default).

    Server-bound bars are solid; generator-bound bars are hatched and labelled "≥ … lower bound"
    because the server may well be faster; failed, unavailable or unrun servers get a labelled gap
    instead of a zero-height bar.  The wrk peak is named under each server it was measured for.
    """
    users = rows.top_step(run, scenario) if users is None else users
    entries = rows.scenario_entries(run, scenario, users)
    colors = server_colors(run)
    fig = Figure(figsize=_bar_size(entries), layout="constrained")
    ax = fig.add_subplot()
    bounds = io_bounds(run, scenario, entries)
    cap = users * 1000 / verdicts.IO_WAIT_MS if bounds and users else None
    top = max([e.cell.rps for e in entries if e.measured] + list(bounds.values())
              + ([cap] if cap else []), default=1.0) or 1.0
    any_lower = False
    for x, entry in enumerate(entries):
        if not entry.measured:
            _gap(ax, x, entry.gap_label)
            continue
        cell = entry.cell
        bound = lower_bound(cell)
        any_lower |= bound
        ax.bar(x, cell.rps, width=0.6, color=colors[entry.server] if not bound else "white",
               edgecolor=colors[entry.server], hatch=LOWER_BOUND_HATCH if bound else None, linewidth=1.5)
        label = rows.format_rps(cell.rps, lower_bound=bound) + ("\nlower bound" if bound else "")
        ax.annotate(label, (x, cell.rps), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    for x, bound in bounds.items():  # io: what one request at a time per worker thread allows
        ax.hlines(bound, x - 0.38, x + 0.38, colors="#222222", linestyles="--", linewidth=1.4, zorder=3)
        ax.annotate(f"bound {rows.format_rps(bound)}", (x, bound), xytext=(0, -3), textcoords="offset points",
                    ha="center", va="top", fontsize=7, color="#222222", zorder=4,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if cap:
        ax.axhline(cap, color="#aa3377", linestyle=":", linewidth=1.2)
        ax.annotate(f"load's cap: {rows.format_users(users)} × {1000 / verdicts.IO_WAIT_MS:g} = {rows.format_rps(cap)} rps", (0, cap),
                    xytext=(2, 2), textcoords="offset points", xycoords=("axes fraction", "data"), fontsize=8,
                    color="#aa3377")
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e) for e in entries])
    _tick_font(ax, entries)
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylim(0, top * 1.22)  # room for the value labels above the bars
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_ylabel("requests / s (locust)")
    ax.set_title(f"{rows.where(run, scenario, users)}: throughput")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(facecolor="#888888", edgecolor="#888888", label="server-bound")]
    if any_lower:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch=LOWER_BOUND_HATCH,
                             label="generator-bound: ≥ lower bound"))
    if bounds:
        handles.append(Line2D([], [], color="#222222", linestyle="--",
                              label=f"bound: served at once × 1000 / {verdicts.IO_WAIT_MS} ms"))
        handles.append(Line2D([], [], color="#aa3377", linestyle=":", label="load's cap: users × 1000 / "
                              f"{verdicts.IO_WAIT_MS} ms"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"rps-{scenario}-{users}",
                           f"{rows.where(run, scenario, users)}: requests per second by server")


def _capacity_bar(ax, y: float, value: float | None, color: str, open_ended: bool, label: str) -> float | None:
    """One horizontal bar of the capacity chart; an open-ended bound is hatched and ends in an arrow."""
    if value is None:
        return None
    ax.barh(y, value, height=0.36, color="white" if open_ended else color, edgecolor=color,
            hatch=LOWER_BOUND_HATCH if open_ended else None, linewidth=1.2)
    if open_ended:
        ax.annotate("", xy=(value * 1.9, y), xytext=(value, y),
                    arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.2, "linestyle": "--"})
    ax.annotate(label, (value * (2.0 if open_ended else 1.05), y), va="center", fontsize=8)
    return value


def chart_capacity(run: Run, scenario: str) -> str | None:
    """Capacity per configuration on a log axis: locust's best rps and wrk's peak side by side.

    A locust figure that is not server-bound (``≥`` generator-bound, ``°`` load-bound) is only a
    lower bound of the capacity: drawn hatched and open-ended (an arrow past its end).  None when
    the scenario has no figure to draw.
    """
    cells = [c for c in rows.contest_cells(run) if c.scenario == scenario and c.ok and not c.rate]
    per_config = {label: [c for c in cells if rows.config_label(run, c) == label]
                  for label in [contender.label for contender in rows.contenders(run)]}
    per_config = {label: found for label, found in per_config.items() if found}
    if not any(c.rps or c.wrk_rps for found in per_config.values() for c in found):
        return None
    labels = list(per_config)
    fig = Figure(figsize=(5.6, 0.62 * len(labels) + 1.3), layout="constrained")
    ax = fig.add_subplot()
    drawn, any_open, any_wrk = [], False, False
    for y, label in enumerate(labels):
        locust = max(per_config[label], key=lambda c: c.rps or 0)
        peaks = [c.wrk_rps for c in per_config[label] if c.wrk_rps is not None]
        open_ended = locust.limit != "server"
        any_open |= open_ended
        mark = figures.limit_mark(locust)
        text = rows.format_rps(locust.rps, lower_bound=mark == "≥") + ("°" if mark == "°" else "")
        drawn.append(_capacity_bar(ax, y - 0.19, locust.rps, "#4477aa", open_ended, text))
        if peaks:
            any_wrk = True
            drawn.append(_capacity_bar(ax, y + 0.19, max(peaks), "#ee6677", False, rows.format_rps(max(peaks))))
    values = [v for v in drawn if v]
    ax.set_xscale("log")
    ax.set_xlim(10 ** math.floor(math.log10(min(values) / 1.5)), max(values) * 6)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("requests / s (log scale)")
    ax.set_title(f"{scenario}: capacity", fontsize=10)
    ax.grid(axis="x", alpha=0.3, which="major")
    ax.set_axisbelow(True)
    handles = [Patch(color="#4477aa", label="locust rps")]
    if any_wrk:
        handles.append(Patch(color="#ee6677", label="wrk peak"))
    if any_open:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch=LOWER_BOUND_HATCH,
                             label="lower bound (≥ / °), open-ended"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"capacity-{scenario}", f"{scenario}: capacity by configuration, log scale")


def chart_latency(run: Run, scenario: str, users: int | None = None) -> str:
    """Latency percentiles per server for one scenario at one users step, grouped bars on a log axis.

    A log axis keeps p50 (often sub-millisecond) and p99.99 (often tens of ms) readable on one chart.
    Generator-bound servers are hatched: their latencies include the generator's own queuing.
    """
    users = rows.top_step(run, scenario) if users is None else users
    entries = rows.scenario_entries(run, scenario, users)
    fig = Figure(figsize=_bar_size(entries), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(rows.PERCENTILES)
    drawn: list[float] = []
    for x, entry in enumerate(entries):
        latency = (entry.cell.latency_ms or {}) if entry.measured else {}
        values = [latency.get(key) for key, _ in rows.PERCENTILES]
        if not any(v is not None and v > 0 for v in values):
            _gap(ax, x, entry.gap_label if not entry.measured else "no latency")
            continue
        bound = lower_bound(entry.cell)
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
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e).split("\nwrk")[0] for e in entries])
    _tick_font(ax, entries)
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(f"{rows.where(run, scenario, users)}: latency percentiles")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=color, label=title) for color, (_, title) in zip(PERCENTILE_COLORS, rows.PERCENTILES)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"latency-{scenario}-{users}",
                           f"{rows.where(run, scenario, users)}: latency percentiles by server")


def io_bounds(run: Run, scenario: str, entries: list[rows.Entry]) -> dict[int, float]:
    """In the ``io`` scenario: per bar position, the configuration's bound (requests it serves at
    once × 1000 / IO_WAIT_MS rps); greenlet configurations have none."""
    if scenario != "io":
        return {}
    out = {}
    for x, entry in enumerate(entries):
        if entry.measured and verdicts.served_at_once(entry.cell):
            out[x] = verdicts.served_at_once(entry.cell) * 1000 / verdicts.IO_WAIT_MS
    return out


def chart_cpu_per_request(run: Run, scenario: str, users: int | None = None) -> str | None:
    """Server CPU µs per request per configuration at one users step (the highest by default):
    lower is better, and unlike rps it compares configurations even when the generator was the
    limit.  None when no cell of the step has the figure."""
    users = rows.top_step(run, scenario) if users is None else users
    entries = rows.scenario_entries(run, scenario, users)
    if not any(e.measured and e.cell.cpu_us_per_request is not None for e in entries):
        return None
    colors = server_colors(run)
    fig = Figure(figsize=_bar_size(entries), layout="constrained")
    ax = fig.add_subplot()
    values = []
    for x, entry in enumerate(entries):
        cell = entry.cell
        if not entry.measured or cell.cpu_us_per_request is None:
            _gap(ax, x, entry.gap_label if not entry.measured else "no figure")
            continue
        ax.bar(x, cell.cpu_us_per_request, width=0.6, color=colors[entry.server], edgecolor=colors[entry.server],
               linewidth=1.5)
        ax.annotate(rows.format_us(cell.cpu_us_per_request), (x, cell.cpu_us_per_request), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=9)
        values.append(cell.cpu_us_per_request)
    ax.set_xticks(range(len(entries)), labels=[_tick_label(e).split("\nwrk")[0] for e in entries])
    _tick_font(ax, entries)
    ax.set_xlim(-0.6, len(entries) - 0.4)
    ax.set_ylim(0, max(values) * 1.2)
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_ylabel("server CPU µs per request")
    ax.set_title(f"{rows.where(run, scenario, users)}: server CPU per request (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return svg_from_figure(fig, f"cpu-{scenario}-{users}",
                           f"{rows.where(run, scenario, users)}: server CPU per request by server")


def _sweep_cells(run: Run, scenario: str) -> dict[str, dict[int, Cell]]:
    """Per server (in run order), its cells of one scenario by users step."""
    out: dict[str, dict[int, Cell]] = {}
    for server in [contender.label for contender in rows.contenders(run)]:
        cells = {c.users: c for c in rows.contest_cells(run)
                 if c.scenario == scenario and rows.config_label(run, c) == server and c.users}
        if cells:
            out[server] = dict(sorted(cells.items()))
    return out


def sweep_throughputs(run: Run, scenario: str) -> list[float]:
    return [value for cells in _sweep_cells(run, scenario).values() for c in cells.values() if c.ok
            for value in (c.rps, c.wrk_rps) if value is not None]


def _knee_users(run: Run, scenario: str, server: str) -> int | None:
    steps = rows.knee_steps(run, scenario, server)
    found = knee(steps) if len(steps) >= 2 else None
    return found["users"] if found else None


def _point(ax, x: float, y: float, color: str, lower: bool, size: float = 6.5) -> None:
    """A measured point: filled when server-bound, hollow when the generator was the limit."""
    ax.plot([x], [y], marker="o", markersize=size, color=color, markerfacecolor="white" if lower else color,
            markeredgewidth=1.5, linestyle="none", zorder=3)


def _ring(ax, x: float, y: float, color: str) -> None:
    """The knee: a large ring around the point, labelled."""
    ax.plot([x], [y], marker="o", markersize=17, markerfacecolor="none", markeredgecolor=color,
            markeredgewidth=1.6, linestyle="none", zorder=4)
    ax.annotate("knee", (x, y), xytext=(9, -12), textcoords="offset points", fontsize=8, color=color,
                fontweight="bold")


def _sweep_legend(fig, run: Run, servers: list[str], styles: list[Line2D]) -> None:
    colors = server_colors(run)
    handles = [Line2D([], [], color=colors[s], linewidth=2, label=s) for s in servers] + styles
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8, frameon=False)


def _sweep_canvas(run: Run, scenario: str):
    """What both sweep charts start from: server colours, cells by server and step, a figure."""
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    return server_colors(run), _sweep_cells(run, scenario), fig, fig.add_subplot()


def chart_sweep_throughput(run: Run, scenario: str) -> str | None:
    """Throughput against users for one scenario, one line per server; None for a single step.

    Locust's rps is solid (hollow points: the generator was the limit), wrk's peak dashed, each
    server's knee ringed.  The users axis doubles per step
    (log 2); the rps axis turns logarithmic when wrk's peak dwarfs locust's figures.
    """
    steps = rows.users_steps(run)
    if len(steps) < 2:
        return None
    colors, sweep, fig, ax = _sweep_canvas(run, scenario)
    log = log_scale(sweep_throughputs(run, scenario))
    any_wrk = any_lower = any_knee = False
    failed_rows = 0
    for server, cells in sweep.items():
        color = colors[server]
        xs = list(cells)
        ys = [c.rps if c.ok and c.rps is not None else math.nan for c in cells.values()]
        ax.plot(xs, ys, color=color, linewidth=1.8, zorder=2)
        for users, cell in cells.items():
            if cell.ok and cell.rps is not None:
                lower = lower_bound(cell)
                any_lower |= lower
                _point(ax, users, cell.rps, color, lower)
        wrk = [c.wrk_rps if c.ok and c.wrk_rps is not None else math.nan for c in cells.values()]
        if any(not math.isnan(w) for w in wrk):
            any_wrk = True
            ax.plot(xs, wrk, color=color, linestyle="--", linewidth=1.4, marker="D", markersize=4, zorder=2)
        knee_at = _knee_users(run, scenario, server)
        if knee_at is not None:
            any_knee = True
            _ring(ax, knee_at, cells[knee_at].rps, color)
        failed = [users for users, cell in cells.items() if not cell.ok]
        if failed:
            for users in failed:
                ax.annotate(f"{server} failed", (users, 0.02 + 0.06 * failed_rows), xycoords=("data", "axes fraction"),
                            ha="center", fontsize=8, style="italic", color=color)
            failed_rows += 1
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, labels=[str(u) for u in steps])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(steps[0] / 1.4, steps[-1] * 1.4)
    if log:
        values = sweep_throughputs(run, scenario)
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(values) / 1.2)), max(values) * 1.6)
        ax.set_ylabel("requests / s (log scale)")
    else:
        ax.set_ylim(bottom=0, top=max(sweep_throughputs(run, scenario) or [1]) * 1.12)
        ax.set_ylabel("requests / s")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("concurrent users (connections)")
    ax.set_title(f"{scenario}: throughput by concurrency")
    ax.grid(alpha=0.3, which="major")
    ax.set_axisbelow(True)
    styles = [Line2D([], [], color="#555555", marker="o", label="locust rps")]
    if any_wrk:
        styles.append(Line2D([], [], color="#555555", linestyle="--", marker="D", markersize=4, label="wrk peak rps"))
    _sweep_legend(fig, run, list(sweep), styles + _point_styles(any_lower, any_knee))
    return svg_from_figure(fig, f"sweep-rps-{scenario}", f"{scenario}: throughput by concurrent users, per server")


def _point_styles(any_lower: bool, any_knee: bool) -> list[Line2D]:
    """Legend entries of the sweep charts' point marks: hollow for generator-bound, ringed knees."""
    styles = []
    if any_lower:
        styles.append(Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none",
                             label="hollow: generator-bound (≥)"))
    if any_knee:
        styles.append(Line2D([], [], color="#555555", marker="o", markersize=11, markerfacecolor="none",
                             linestyle="none", label="knee"))
    return styles


def chart_sweep_latency(run: Run, scenario: str) -> str | None:
    """p99 latency against locust's throughput for one scenario, one line per server; None for a
    single step.  Each point is a users step (labelled); the line runs from the fewest users to
    the most.  A line that turns upward is the server saturating: more users, more waiting, no more
    throughput.  The knee is ringed; hollow points are generator-bound."""
    if len(rows.users_steps(run)) < 2:
        return None
    colors, sweep, fig, ax = _sweep_canvas(run, scenario)
    drawn: list[float] = []
    any_lower = any_knee = False
    for server, cells in sweep.items():
        color = colors[server]
        points = [(c.users, c.rps, (c.latency_ms or {}).get("p99"), lower_bound(c)) for c in cells.values()
                  if c.ok and c.rps is not None and (c.latency_ms or {}).get("p99")]
        if not points:
            continue
        ax.plot([p[1] for p in points], [p[2] for p in points], color=color, linewidth=1.8, zorder=2)
        for users, rps, p99, lower in points:
            any_lower |= lower
            _point(ax, rps, p99, color, lower)
            ax.annotate(f"{users}u", (rps, p99), xytext=(5, 4), textcoords="offset points", fontsize=7, color="#444444")
            drawn.append(p99)
        knee_at = _knee_users(run, scenario, server)
        if knee_at is not None:
            any_knee = True
            cell = cells[knee_at]
            _ring(ax, cell.rps, cell.latency_ms["p99"], color)
    if drawn:
        ax.set_yscale("log")
        ax.set_ylim(10 ** math.floor(math.log10(min(drawn) / 1.5)), max(drawn) * 2.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("throughput, requests / s (locust)")
    ax.set_ylabel("p99 latency, ms (log scale)")
    ax.set_title(f"{scenario}: p99 latency against throughput")
    ax.grid(alpha=0.3, which="major")
    ax.set_axisbelow(True)
    styles = [Line2D([], [], color="#555555", marker="o", linestyle="none", label="“8u” = 8 users")]
    _sweep_legend(fig, run, list(sweep), styles + _point_styles(any_lower, any_knee))
    return svg_from_figure(fig, f"sweep-latency-{scenario}", f"{scenario}: p99 latency against throughput, per server")


def _series(samples: list[dict], key: str) -> tuple[list[float], list[float]]:
    """A sample series with missing points as NaN, so the line breaks instead of dropping to 0."""
    ts = [s.get("t", math.nan) for s in samples]
    values = [s.get(key) for s in samples]
    return ts, [math.nan if v is None else v for v in values]


def chart_timeline(run: Run, scenario: str, users: int | None = None) -> str | None:
    """Server CPU % and RSS over each cell's samples at one users step (the highest by default),
    one line per server; None without samples.

    The generator's CPU is drawn dashed next to the server's, with the generator-bound threshold,
    so a reader can see when the generator rather than the server was saturated.
    """
    users = rows.top_step(run, scenario) if users is None else users
    entries = [e for e in rows.scenario_entries(run, scenario, users) if e.cell is not None and rows.cell_samples(e.cell)]
    if not entries:
        return None
    colors = server_colors(run)
    fig = Figure(figsize=(9.6, 4.4 if len(entries) <= 4 else 5.2), layout="constrained")
    cpu_ax, rss_ax = fig.subplots(1, 2)
    for entry in entries:
        cell = entry.cell
        samples = rows.cell_samples(cell)
        name = entry.server + ("" if cell.ok else " (failed)")
        color = colors[entry.server]
        cpu_ax.plot(*_series(samples, "server_cpu_pct"), color=color, label=f"{name}: server")
        cpu_ax.plot(*_series(samples, "generator_cpu_pct"), color=color, linestyle="--",
                    label=f"{name}: generator")
        rss_ax.plot(*_series(samples, "server_rss_mb"), color=color, label=name)
    cpu_ax.axhline(rows.threshold(run), color="#999999", linestyle=":", linewidth=1)
    cpu_ax.annotate(f"generator-bound at {rows.threshold(run):g} %", (0, rows.threshold(run)), xytext=(2, 2),
                    textcoords="offset points", xycoords=("axes fraction", "data"), fontsize=8, color="#666666")
    cpu_ax.set_ylim(bottom=0)
    cpu_ax.set_xlabel("seconds since cell start")
    cpu_ax.set_ylabel("CPU % (100 = one core)")
    cpu_ax.set_title(f"{rows.where(run, scenario, users)}: CPU (solid server, dashed generator)", fontsize=10)
    rss_ax.set_ylim(bottom=0)
    rss_ax.set_xlabel("seconds since cell start")
    rss_ax.set_ylabel("server RSS, MB")
    rss_ax.set_title(f"{rows.where(run, scenario, users)}: server memory", fontsize=10)
    if len(entries) <= 4:
        cpu_ax.legend(fontsize=7, loc="lower right", frameon=False)
        rss_ax.legend(fontsize=7, loc="lower right", frameon=False)
    else:  # many configurations: one shared legend under both panels, a colour per configuration
        handles = [Line2D([], [], color=colors[e.server], label=e.server + ("" if e.cell.ok else " (failed)"))
                   for e in entries]
        handles += [Line2D([], [], color="#555555", label="solid: server"),
                    Line2D([], [], color="#555555", linestyle="--", label="dashed: generator")]
        fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    for ax in (cpu_ax, rss_ax):
        ax.grid(alpha=0.3)
    return svg_from_figure(fig, f"timeline-{scenario}-{users}",
                           f"{rows.where(run, scenario, users)}: CPU and memory over time by server")


#: The charts of one scenario, in the order the HTML report shows them.
CHART_KINDS = ("capacity", "sweep_throughput", "sweep_latency", "rps", "latency", "cpu_per_request", "timeline")


def charts(run: Run) -> dict[str, dict[str, markupsafe.Markup | None]]:
    """All charts of the HTML report, per scenario and kind (``CHART_KINDS``), marked safe for the
    autoescaping template; a chart that does not apply (a sweep chart of a single-step run, a
    timeline without samples) is None."""
    out = {}
    for scenario in [] if rows.probes_only(run) else rows.scenario_order(run):
        made = {
            "capacity": chart_capacity(run, scenario),
            "sweep_throughput": chart_sweep_throughput(run, scenario),
            "sweep_latency": chart_sweep_latency(run, scenario),
            "rps": chart_rps(run, scenario),
            "latency": chart_latency(run, scenario),
            "cpu_per_request": chart_cpu_per_request(run, scenario),
            "timeline": chart_timeline(run, scenario),
        }
        out[scenario] = {kind: markupsafe.Markup(svg) if svg else None for kind, svg in made.items()}
    return out


def chart_count(made: dict[str, dict[str, str | None]]) -> int:
    """How many charts ``charts`` made (each is one ``<svg>`` in its own ``<figure>``)."""
    return sum(1 for kinds in made.values() for svg in kinds.values() if svg)


# --------------------------------------------------------------------------------------------
# Two runs compared (``lab.report.compare``).
# --------------------------------------------------------------------------------------------

COLOR_A = "#9aa5b1"
COLOR_B = "#4477aa"


def _error_bar(cell: Cell) -> list[list[float]] | None:
    """Distances from the bar's top to the min and max of the repeats, or None without repeats."""
    spread = (cell.spread or {}).get("rps")
    if not spread or spread.get("n", 0) < 2:
        return None
    return [[max(0.0, cell.rps - spread["min"])], [max(0.0, spread["max"] - cell.rps)]]


def _side_bar(ax, x: float, cell: Cell | None, color: str, width: float) -> float:
    """Draw one run's bar, or say why there is none; returns the height drawn (0 if none)."""
    if cell is None or not cell.ok or cell.rps is None:
        _gap(ax, x, "absent" if cell is None else ("failed" if not cell.ok else "no figure"))
        return 0.0
    bound = lower_bound(cell)
    ax.bar(x, cell.rps, width=width, color="white" if bound else color, edgecolor=color,
           hatch=LOWER_BOUND_HATCH if bound else None, linewidth=1.5,
           yerr=_error_bar(cell), capsize=4, error_kw={"ecolor": "#333333", "elinewidth": 1})
    return max(cell.rps, ((cell.spread or {}).get("rps") or {}).get("max") or 0)


def chart_compare(pairs: list, labels: list[str], scenario: str, name_a: str, name_b: str) -> str | None:
    """Grouped bars of rps A vs B per matched cell (``compare.Pair``: ``a``, ``b``) of one scenario,
    min–max whiskers over repeats, labelled by ``labels``.

    Hatched bars are generator-bound (lower bounds); a missing or failed side is labelled, never a
    zero bar.  None when neither run has a figure to draw.
    """
    if not any(c is not None and c.ok and c.rps is not None for p in pairs for c in (p.a, p.b)):
        return None
    fig = Figure(figsize=(max(6.4, 1.3 * len(pairs) + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.38
    top = 0.0
    for x, pair in enumerate(pairs):
        top = max(top, _side_bar(ax, x - width / 2, pair.a, COLOR_A, width),
                  _side_bar(ax, x + width / 2, pair.b, COLOR_B, width))
    ax.set_xticks(range(len(pairs)), labels=labels, fontsize=8)
    ax.set_xlim(-0.6, len(pairs) - 0.4)
    ax.set_ylim(0, (top or 1.0) * 1.12)
    ax.set_ylabel("requests / s")
    ax.set_title(f"{scenario}: throughput, A vs B")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=COLOR_A, label=f"A {name_a}"), Patch(color=COLOR_B, label=f"B {name_b}")]
    if any(lower_bound(c) for p in pairs for c in (p.a, p.b) if c is not None):
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch=LOWER_BOUND_HATCH,
                             label="generator-bound: lower bound"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return svg_from_figure(fig, f"compare-{scenario}", f"{scenario}: requests per second, run A vs run B")
