"""Render a run's result document as a Markdown report and a self-contained HTML report.

A report is a pure function of the document that ``lab.results`` writes (``results.json``): it
reads nothing else, so any old run can be re-rendered, and the same document always gives the
same report.  Figures are formatted in Python (``lab.tables``, ``lab.judgements``; this module
puts them together) and only placed by the Jinja2 templates in ``lab/templates``; the HTML report
carries its CSS and its charts (matplotlib SVG, ``lab.charts``) inline, so it can be mailed or
archived as a single file and opened without network access.

A run has one cell per server × scenario × users step; each cell may have been measured in
several rounds (``repeats``), whose median it carries.  The judgements (spread and noise, the
generator's ceiling, a server's knee in a sweep) come from ``lab.stats``; this module only shows
them.  Three rules shape everything below:

* A figure that was not measured is shown as "—", never as 0, and a failed cell keeps its error.
* A cell whose load generator was the limit only gives a lower bound of the server's throughput,
  so it is marked "≥", drawn hatched or hollow, and never ranked among server-bound cells.  The
  generator was the limit when its CPU was saturated (``limit == "generator"``) or when locust's
  rps reached ``CEILING_SHARE`` of the generator's ceiling: locust's rps against the server with
  the highest wrk peak, i.e. the most locust could send at that step.
* Noise is shown, not hidden: a cell measured in several rounds reads "median (min–max, CV)", and a
  cell whose rps varies by more than ``NOISY_CV_PCT`` is flagged noisy.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jinja2

from lab.charts import charts, log_scale, sweep_throughputs
from lab.judgements import Closeness, efficiency_view, littles_view, noise_view, probe_view, workload_views
from lab.results import Run, load, write_atomic
from lab.stats import CEILING_SHARE, NOISY_CV_PCT
from lab.tables import (
    MISSING,
    PERCENTILES,
    Limits,
    caveats,
    ceiling_sentence,
    cell_samples,
    columns,
    config_label,
    contest_cells,
    format_command,
    format_cpus,
    format_host,
    format_mb,
    format_revision,
    format_users,
    format_value,
    is_sweep,
    is_swept,
    knee_rule,
    probes_only,
    rounds,
    scenario_order,
    scenario_rows,
    server_rows,
    sweep_knees,
    threshold,
    top_step,
    unique,
    users_steps,
    where,
)


REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TEMPLATES = Path(__file__).parent / "templates"


# --------------------------------------------------------------------------------------------
# The view model: what both templates show, computed once from the document.
# --------------------------------------------------------------------------------------------


def scenario_view(run: Run, scenario: str, limits: Limits, close: Closeness | None = None) -> dict:
    """Everything one scenario's section shows: its sweep, one table per users step (with the
    generator-bound cells ranked by CPU per request beneath it), chart notes."""
    close = close or Closeness(run.meta.get("noise_floor"))
    steps = users_steps(run) or [None]
    sweep = len(steps) > 1
    tables = []
    for users in steps:
        ceiling = limits.ceilings.get((scenario, users))
        rows = scenario_rows(run, scenario, users, limits)
        if not any(row["wrk_main"] != MISSING and not row["wrk_is_note"] for row in rows):
            # No wrk figure in the whole table: one "—" per row; the reason is said once, above it.
            for row in rows:
                row.update(wrk=MISSING, wrk_main=MISSING, wrk_range="", wrk_is_note=False)
        tables.append({
            "users": users,
            "label": where(run, scenario, users),
            "anchor": f"scenario-{scenario}-{users}" if users else f"scenario-{scenario}-all",
            "rows": rows,
            "ceiling": ceiling_sentence(run, ceiling, limits) if ceiling else "",
            "efficiency": efficiency_view(run, scenario, users, limits, close),
        })
    cells = [c for c in contest_cells(run) if c.scenario == scenario]
    notes = unique(c.wrk_note for c in cells if c.wrk_note)
    no_ceiling = ""
    if columns(run)["wrk"] and not any(t["ceiling"] for t in tables):
        no_ceiling = ("No wrk peak and no generator ceiling for this scenario"
                      + (f": {'; '.join(notes)}" if notes else "") + ".")
    top = top_step(run, scenario) if sweep else steps[-1]
    timeline_cells = [c for c in cells if c.users == top or top is None or not c.users]
    return {
        "name": scenario,
        "sweep": sweep,
        "steps": [format_users(u) for u in steps if u],
        "knees": sweep_knees(run, scenario, limits) if sweep else [],
        "tables": tables,
        "no_ceiling": no_ceiling,
        "top": where(run, scenario, top),
        "top_users": format_users(top) if top else "",
        "throughput_log": sweep and log_scale(sweep_throughputs(run, scenario)),
        "has_wrk": any(c.ok and c.wrk_rps is not None for c in cells),
        "has_ceiling": any(t["ceiling"] for t in tables),
        "no_samples": [config_label(run, c) + ("" if c.ok else " (failed)") for c in timeline_cells
                       if not cell_samples(c)],
    }



def status_text(run: Run) -> tuple[str, str]:
    """The run's status and, unless it completed, a plain sentence on what the report is missing."""
    status = run.meta.get("status") or "unknown"
    if status == "complete":
        return status, ""
    if probes_only(run):
        return status, (f"This run did not complete (status \"{status}\"): only the probes recorded are shown, "
                        "and a server without a result for a probe shows \"—\".")
    options = run.meta.get("options") or {}
    steps = len(users_steps(run)) or 1
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
    options = meta.get("options") or {}
    limits = Limits(run)
    close = Closeness(meta.get("noise_floor"))
    only_probes = probes_only(run)
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
        "options": [(key, format_value(value)) for key, value in options.items()],
        "caveats": caveats(run, limits),
        "scenarios": [] if only_probes else [scenario_view(run, s, limits, close) for s in scenario_order(run)],
        "probes_only": only_probes,
        "swept": is_swept(run),
        "noise": noise_view(run),
        "littles": littles_view(run),
        "workloads": [] if only_probes else workload_views(run, limits, close),
        "probes": probe_view(run),
        "sweep": is_sweep(run),
        "rounds": rounds(run),
        "warmup": format_value(options.get("warmup")),
        "columns": columns(run),
        "knee_rule": knee_rule(),
        "ceiling_share": f"{CEILING_SHARE * 100:g}",
        "noisy_cv": f"{NOISY_CV_PCT:g}",
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
    env.filters["nbsp"] = nbsp
    return env


def render_markdown(run: Run) -> str:
    """The report as Markdown: the tables and caveats, readable in a terminal or a code review."""
    text = _environment("md").get_template("report.md.j2").render(context(run))
    return re.sub(r"\n{3,}", "\n\n", text)


def render_html(run: Run) -> str:
    """The report as one self-contained HTML file: inline CSS and inline SVG charts, no outside URL."""
    return _environment("html").get_template("report.html.j2").render(**context(run), charts=charts(run))



def write_reports(run_dir: Path) -> list[Path]:
    """Render ``results.json`` in ``run_dir`` to ``report.md`` and ``report.html`` beside it."""
    run_dir = Path(run_dir)
    run = load(run_dir)
    outputs = [(run_dir / REPORT_MD, render_markdown(run)), (run_dir / REPORT_HTML, render_html(run))]
    for path, text in outputs:
        write_atomic(path, text)
    return [path for path, _ in outputs]
