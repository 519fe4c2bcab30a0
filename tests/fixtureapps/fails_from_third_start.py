"""The lab's app, until the third time a server of the same run imports it: then the import fails.

A server that cannot start in a later round (a deployment broken mid-soak) must cost that round
only: the cell keeps the rounds already measured and records the failed one with its reason.
The count lives in the run folder (``LAB_RUN_DIR``, set for every server the lab starts), so the
import check before the run, which has no run folder, does not count.
"""

import os
from pathlib import Path

from app import application  # noqa: F401  (served as is until the third start)

_run_dir = os.environ.get("LAB_RUN_DIR")
if _run_dir:
    _counter = Path(_run_dir) / "fixture-starts"
    _starts = int(_counter.read_text()) + 1 if _counter.exists() else 1
    _counter.write_text(str(_starts))
    if _starts > 2:
        raise RuntimeError(f"start {_starts}: this deployment is broken from the third start on")
