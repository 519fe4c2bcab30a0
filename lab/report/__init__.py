"""The reports of a run, and the comparison of two runs, made from ``results.json`` alone.

The flow, one module per step:

* ``figures``: the limit and figure queries every output reads (lower bound, capacity, marks,
  the common-rate step), never deciding a limit (``lab.limits`` does, when a cell is measured);
* ``rows``: results.json → formatted table rows and facts;
* ``verdicts``: rows → judgements across configurations (the verdict table, which server for what);
* ``charts``: the same figures as SVG charts (report and compare);
* ``render``: one Jinja environment puts them into ``templates/`` → report.md, report.html
  and the SVG files; ``compare`` does the same for two runs.
"""

from lab.report.render import REPORT_HTML, REPORT_MD, write_reports

__all__ = ["REPORT_HTML", "REPORT_MD", "write_reports"]
