"""The reference run committed under results/reference/ and README's quote of it agree.

README quotes the reference run's verdict tables; they are generated from its results.json
(``python -m lab.report.readme``), so a re-run that is not re-quoted, or a hand-edited figure, fails.
"""

from __future__ import annotations

from pathlib import Path

from lab.report import readme
from lab.results import load

ROOT = Path(__file__).parent.parent
REFERENCE = ROOT / "results" / "reference"


def test_reference_run_is_committed_with_its_report_and_charts():
    run = load(REFERENCE)
    assert run.meta["status"] == "complete" and run.cells
    assert (REFERENCE / "report.md").read_text(encoding="utf-8").startswith("# WSGI server benchmark")
    assert (REFERENCE / "charts" / "plaintext-capacity.svg").read_text(encoding="utf-8").startswith("<svg")


def test_readme_quotes_the_reference_run_figures():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quoted = readme.quoted(text)
    assert quoted == readme.quote(REFERENCE)
    assert f"Run `{load(REFERENCE).meta['run_id']}`" in quoted
    assert "results/reference/" in text.split(readme.BEGIN, 1)[0]
