"""Render a run's result document: report.md, a self-contained report.html and every chart as SVG.

A report is a pure function of the document that ``lab.results`` writes (``results.json``): it
reads nothing else, so any old run can be re-rendered, and the same document always gives the
same report.  The last step of results.json → rows → verdicts → charts → templates: figures are
formatted in Python (``rows``, ``verdicts``, ``charts``) and only placed by the Jinja2 templates in
``templates/``, through the one environment (``environment``) that ``compare`` uses too.

The report opens with the answer: per scenario a verdict table (capacity, p99 at the common rate,
CPU per request, RSS, each with its mark) and its capacity chart.  Three rules shape everything:

* A figure that was not measured is shown as "—", never as 0, and a failed cell keeps its error.
* A cell's limit is read, never decided (``figures``): its locust rps is a lower bound exactly when
  ``cell.limit == "generator"``, marked "≥", drawn hatched or hollow, and never ranked.
* Noise is shown, not hidden: a cell measured in several rounds reads "median (min–max, CV)", and a
  cell whose rps varies by more than ``NOISY_CV_PCT`` is flagged noisy.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jinja2

from lab.config import BenchOptions
from lab.report import charts, figures, rows, verdicts
from lab.results import Run, load, write_atomic
from lab.stats import NOISY_CV_PCT


REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CHART_DIR = "charts"
TEMPLATES = Path(__file__).parent / "templates"


# --------------------------------------------------------------------------------------------
# The view model: what both templates show, computed once from the document.
# --------------------------------------------------------------------------------------------


def scenario_view(run: Run, scenario: str) -> dict:
    """Everything one scenario's section shows: its sweep, one table per users step (with the
    generator-bound cells ranked by CPU per request beneath it), chart notes."""
    steps = rows.users_steps(run) or [None]
    sweep = len(steps) > 1
    tables = []
    for users in steps:
        table_rows = rows.scenario_rows(run, scenario, users)
        if not any(row["wrk_main"] != rows.MISSING and not row["wrk_is_note"] for row in table_rows):
            # No wrk figure in the whole table: one "—" per row; the reason is said once, above it.
            for row in table_rows:
                row.update(wrk=rows.MISSING, wrk_main=rows.MISSING, wrk_range="", wrk_is_note=False)
        tables.append({
            "users": users,
            "label": rows.where(run, scenario, users),
            "anchor": f"scenario-{scenario}-{users}" if users else f"scenario-{scenario}-all",
            "rows": table_rows,
        })
    cells = [c for c in rows.contest_cells(run) if c.scenario == scenario]
    notes = rows.unique(c.wrk_note for c in cells if c.wrk_note)
    no_wrk = ""
    if rows.columns(run)["wrk"] and not any(c.ok and c.wrk_rps is not None for c in cells):
        no_wrk = "No wrk peak for this scenario" + (f": {'; '.join(notes)}" if notes else "") + "."
    top = rows.top_step(run, scenario) if sweep else steps[-1]
    timeline_cells = [c for c in cells if c.users == top or top is None or not c.users]
    return {
        "name": scenario,
        "sweep": sweep,
        "steps": [rows.format_users(u) for u in steps if u],
        "knees": rows.sweep_knees(run, scenario) if sweep else [],
        "tables": tables,
        "no_wrk": no_wrk,
        "top": rows.where(run, scenario, top),
        "top_users": rows.format_users(top) if top else "",
        "throughput_log": sweep and charts.log_scale(charts.sweep_throughputs(run, scenario)),
        "has_wrk": any(c.ok and c.wrk_rps is not None for c in cells),
        "no_samples": [rows.config_label(run, c) + ("" if c.ok else " (failed)") for c in timeline_cells
                       if not rows.cell_samples(c)],
    }



def status_text(run: Run) -> tuple[str, str]:
    """The run's status and, unless it completed, a plain sentence on what the report is missing."""
    status = run.meta.get("status") or "unknown"
    if status == "complete":
        return status, ""
    if rows.probes_only(run):
        return status, (f"This run did not complete (status \"{status}\"): only the probes recorded are shown, "
                        "and a server without a result for a probe shows \"—\".")
    options = run.meta.get("options") or {}
    steps = len(rows.users_steps(run)) or 1
    planned = len(options.get("servers") or []) * len(options.get("scenarios") or []) * steps
    shape = "server × scenario × users" if steps > 1 else "server × scenario"
    of = f" of {planned} planned {shape} cells" if planned else ""
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
    return [{"service": service, "image": f"{c.get('image') or rows.MISSING} ({(c.get('image_id') or '')[7:19]})",
             "cpuset": c.get("cpuset") or rows.MISSING, "cpus": rows.format_value(c.get("cpus")),
             "memory": rows.format_mb(c.get("memory_mb")), "command": rows.format_command(c.get("command") or [])}
            for service, c in sorted(containers.items())]


def verdict_view(run: Run, scenario: str, close: verdicts.Closeness) -> dict:
    """A scenario's verdict table, with the file its capacity chart is written to (``write_reports``)."""
    view = verdicts.verdict_table(run, scenario, close)
    view["chart"] = f"{CHART_DIR}/{chart_file(scenario, 'capacity')}" if view["drawable"] else ""
    return view


#: How the figures were taken, said once at the end of both reports.
METHODS = (
    "Each cell: the server starts pinned to its CPUs and every route is verified; locust (on the other CPUs) "
    "runs a warm-up and the measured window while both sides are sampled; wrk then measures the peak at the "
    "same concurrency. Latencies are client-side (HDR histogram, µs). Each cell's limit is decided once when "
    "it is measured (lab.limits) and stored with its reason. The common-rate step offers every configuration "
    "one fixed rate per scenario, latency from each request's intended start: the p99 the verdict compares."
)


def changed_options(options: dict) -> list[tuple[str, str]]:
    """The run's options that differ from today's defaults (all of them stay in results.json)."""
    defaults = BenchOptions().to_json()
    return [(key, rows.format_value(value)) for key, value in options.items()
            if key not in defaults or defaults[key] != value]


def context(run: Run) -> dict:
    """The template context shared by both reports (the HTML one adds its charts)."""
    meta = run.meta
    status, status_note = status_text(run)
    python = meta.get("python") or {}
    cpus = meta.get("cpus") or {}
    options = meta.get("options") or {}
    close = verdicts.Closeness(meta.get("noise_floor"))
    only_probes = rows.probes_only(run)
    return {
        "verdict_tables": [] if only_probes else [verdict_view(run, s, close) for s in rows.scenario_order(run)],
        "common_rate": bool(run.meta.get("common_rate")),
        "marks": list(figures.MARKS.items()),
        "methods": METHODS,
        "run_id": meta.get("run_id") or "unknown",
        "status": status,
        "status_note": status_note,
        "revision": rows.format_revision(meta.get("lab")),
        "started_at": meta.get("started_at") or rows.MISSING,
        "finished_at": meta.get("finished_at") or rows.MISSING,
        "environment": meta.get("environment") or rows.MISSING,
        "host": rows.format_host(meta.get("host")),
        "host_platform": (meta.get("host") or {}).get("platform") or rows.MISSING,
        "host_kernel": (meta.get("host") or {}).get("kernel") or rows.MISSING,
        "server_cpus": rows.format_cpus(cpus.get("server")),
        "generator_cpus": rows.format_cpus(cpus.get("generator")),
        "threshold": f"{rows.threshold(run):g}",
        "options": changed_options(options),
        "caveats": rows.caveats(run),
        "scenarios": [] if only_probes else [scenario_view(run, s) for s in rows.scenario_order(run)],
        "probes_only": only_probes,
        "swept": rows.is_swept(run),
        "noise": verdicts.noise_view(run),
        "littles": verdicts.littles_view(run),
        "workloads": [] if only_probes else verdicts.workload_views(run, close),
        "probes": verdicts.probe_view(run),
        "corpus": verdicts.corpus_view(run),
        "sweep": rows.is_sweep(run),
        "rounds": rows.rounds(run),
        "warmup": rows.format_value(options.get("warmup")),
        "columns": rows.columns(run),
        "knee_rule": rows.knee_rule(),
        "noisy_cv": f"{NOISY_CV_PCT:g}",
        "servers": rows.server_rows(run),
        "python": [
            ("version", python.get("version") or rows.MISSING),
            ("implementation", python.get("implementation") or rows.MISSING),
            ("executable", python.get("executable") or rows.MISSING),
        ],
        "packages": [(name, rows.format_value(version)) for name, version in sorted((meta.get("packages") or {}).items(), key=lambda kv: kv[0].lower())],
        "containers": container_rows(meta.get("containers") or {}),
        "percentiles": [title for _, title in rows.PERCENTILES],
        "counts": {
            "cells": len(run.cells),
            "ok": sum(1 for c in run.cells if c.ok),
            "failed": sum(1 for c in run.cells if not c.ok),
            "twins": sum(1 for c in run.cells if c.aa_twin),
        },
    }


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


def nbsp(value) -> str:
    """A spread "(min–max, CV x %)" that wraps only after its comma: "CV", the figure and "%" stay
    together (no-break spaces; still plain whitespace to any text reader)."""
    return re.sub(r" (?=[\d.]+ %)| (?=%)", "\u00a0", "" if value is None else str(value))


@functools.cache
def environment(kind: str) -> jinja2.Environment:
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
    env.filters["nbsp"] = nbsp
    return env


def render_markdown(run: Run) -> str:
    """The report as Markdown: the tables and caveats, readable in a terminal or a code review."""
    text = environment("md").get_template("report.md.j2").render(context(run))
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(run: Run, made: dict | None = None) -> str:
    """The report as one self-contained HTML file: inline CSS and inline SVG charts, no outside URL."""
    made = charts.charts(run) if made is None else made
    return environment("html").get_template("report.html.j2").render(**context(run), charts=made)


def chart_file(scenario: str, kind: str) -> str:
    """The SVG file of one chart in the run's ``charts/`` folder: ``plaintext-capacity.svg``."""
    return f"{scenario}-{kind.replace('_', '-')}.svg"


def write_reports(run_dir: Path) -> list[Path]:
    """Render ``results.json`` in ``run_dir`` to ``report.md``, ``report.html`` and every chart as an
    SVG file in ``charts/`` (report.md links the capacity charts there)."""
    run_dir = Path(run_dir)
    run = load(run_dir)
    made = charts.charts(run)
    outputs = [(run_dir / REPORT_MD, render_markdown(run)), (run_dir / REPORT_HTML, render_html(run, made))]
    outputs += [(run_dir / CHART_DIR / chart_file(scenario, kind), str(svg))
                for scenario, kinds in made.items() for kind, svg in kinds.items() if svg]
    if len(outputs) > 2:
        (run_dir / CHART_DIR).mkdir(exist_ok=True)
    for path, text in outputs:
        write_atomic(path, text)
    return [path for path, _ in outputs]
