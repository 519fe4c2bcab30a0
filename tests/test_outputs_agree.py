"""One results.json, three outputs: the console, the report and ``lab compare`` show the same limit
for every cell, because each only reads ``cell.limit`` (decided once, in ``lab.limits``)."""

import io
import json
import shutil

from rich.console import Console

from lab.console import LIMIT_LABELS, summary_table
from lab.report import compare, render
from lab.results import load
from tests.conftest import ROOT
from tests.test_report import md_scenario_rows

#: The committed reference run (real, lean client, the four default servers): every label occurs.
RUN = ROOT / "results" / "reference"


def console_limits(run) -> dict[tuple[str, str], str]:
    """(server, scenario) -> the limit column of the terminal's summary table, for closed-loop cells."""
    out = Console(file=io.StringIO(), width=400, record=True)
    out.print(summary_table(run))
    found = {}
    for line in out.export_text().splitlines():
        columns = [part.strip() for part in line.strip("│ ").split("│")]
        if len(columns) > 5 and columns[3] == "ok":
            found.setdefault((columns[0], columns[1]), columns[-1])  # closed-loop cells come first
    return found


def test_console_report_and_compare_show_the_same_limit_for_every_cell(tmp_path):
    run = load(RUN)
    cells = [c for c in run.cells if c.ok and not c.rate and not c.aa_twin]
    labels = {c.limit for c in cells}
    assert {"generator", "server", "load"} <= labels, labels  # the run exercises every label
    printed = console_limits(run)
    md = render.render_markdown(run)
    shutil.copytree(RUN, tmp_path / "a")
    shutil.copytree(RUN, tmp_path / "b")
    compared = compare.write_comparison(tmp_path / "a", tmp_path / "b", tmp_path / "out")
    compare_md = next(p for p in compared if p.suffix == ".md").read_text()
    for cell in cells:
        assert printed[(cell.server, cell.scenario)] == LIMIT_LABELS.get(cell.limit, cell.limit), cell
        (row,) = [r for r in md_scenario_rows(md, cell.scenario) if r["Server"] == cell.server]
        assert row["limit"] == cell.limit, (cell.server, cell.scenario)
    # compare notes every generator-bound side of a pair, and no other
    generator_cells = sum(c.ok and c.limit == "generator" for c in run.cells)
    assert compare_md.count("A generator-bound:") == compare_md.count("B generator-bound:") == generator_cells
