"""The common-rate step: one fixed offered rate per scenario that every configuration could carry,
planned from the same run's capacities, measured by a real bench, and quoted by the verdict."""

from __future__ import annotations

import dataclasses

import pytest

from lab import bench
from lab.config import BenchOptions
from lab.results import Cell
from tests.conftest import results_of


def cell(server: str, limit: str, rps: float, wrk_rps: float | None = None, **extra) -> Cell:
    return Cell(server=server, scenario="plaintext", app="raw", status="ok", users=8, workers=1, threads=1,
                limit=limit, rps=rps, wrk_rps=wrk_rps, **extra)


def test_the_rate_is_half_the_slowest_configuration_s_capacity():
    cells = [cell("bjoern", "generator", 3000.0, wrk_rps=30000.0),  # capacity: wrk's peak
             cell("gunicorn", "server", 800.0, wrk_rps=900.0),  # capacity: its server-bound locust rps
             cell("waitress", "load", 1200.0),  # only a bound: still the most it was seen to carry
             cell("gunicorn", "server", 5000.0, aa_twin=True)]  # the A/A twin is no configuration
    plan = bench.common_rate(BenchOptions(), cells, "plaintext")
    assert plan == {"rate": 400.0, "basis": "50 % of the slowest, gunicorn's 800 rps (locust)"}
    assert bench.common_rate(BenchOptions(), cells, "json") is None  # nothing measured there
    assert bench.common_rate(BenchOptions(compare_rate="off"), cells, "plaintext") is None
    assert bench.common_rate(BenchOptions(rate=100.0), cells, "plaintext") is None  # a --rate run is fixed-rate already
    assert bench.common_rate(BenchOptions(compare_rate="250"), cells, "plaintext")["rate"] == 250.0


def test_common_rate_plans_one_cell_per_configuration_at_the_top_users_step():
    configs = {name: dataclasses.make_dataclass("C", [("name", str), ("model", str), ("uses_workers", bool),
                                                      ("uses_threads", bool)])(name, "m", False, False)
               for name in ("gunicorn", "waitress")}
    options = BenchOptions(servers=["gunicorn", "waitress"], scenarios=["plaintext", "json"], users=[1, 8])
    plans = bench.common_rate_plans(options, configs, {"plaintext": {"rate": 400.0}})
    assert [(p.config.name, p.scenario, p.users, p.rate) for p in plans] == [
        ("gunicorn", "plaintext", 8, 400.0), ("waitress", "plaintext", 8, 400.0)]


@pytest.mark.slow
def test_bench_measures_the_common_rate_step_and_the_verdict_quotes_it(lab, tmp_path):
    result = lab("bench", "--servers", "waitress,wsgiref", "--scenarios", "plaintext", "--users", "8",
                 "--duration", "2", "--warmup", "1", "--wrk-duration", "1", "--calibration", "off",
                 "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    doc = results_of(tmp_path)
    plan = doc["meta"]["common_rate"]["plaintext"]
    matrix = [c for c in doc["cells"] if not c["rate"]]
    step = [c for c in doc["cells"] if c["rate"]]
    assert [c["server"] for c in matrix] == [c["server"] for c in step] == ["waitress", "wsgiref"]
    assert {c["rate"] for c in step} == {plan["rate"]}
    assert all(c["status"] == "ok" and c["users"] == 8 for c in step)
    assert 0 < plan["rate"] < min(max(c["rps"], c["wrk_rps"] or 0) for c in matrix)
    md = (tmp_path / "latest" / "report.md").read_text(encoding="utf-8")
    assert f"p99 at {plan['rate']:,.0f} rps" in md
    verdict = md.split("**Verdict.**", 1)[1].split("\n", 1)[0]
    assert f"p99 at {plan['rate']:,.0f} rps: " in verdict


def test_auto_gives_the_step_to_plaintext_and_mixed_when_the_bench_has_them_else_to_every_scenario():
    default = BenchOptions()  # the default bench: plaintext, json, home, signin, mixed
    assert bench.common_rate_scenarios(default) == ["plaintext", "mixed"]
    assert bench.common_rate_scenarios(BenchOptions(scenarios=["io", "cpu"])) == ["io", "cpu"]
    assert bench.common_rate_scenarios(BenchOptions(compare_scenarios=["all"])) == default.scenarios
    assert bench.common_rate_scenarios(BenchOptions(scenarios=["json", "io"], compare_scenarios=["io"])) == ["io"]
