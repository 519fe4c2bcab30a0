"""``lab.limits`` on figures from real cells: each label, each clause, and what it cannot tell.

Every figure set below was measured by ``python -m lab bench`` on the 2-core lab machine (server on
CPU 0, locust on CPU 1, 32 users, FastHttpUser), while other benchmarks kept both CPUs busy: which
is exactly when busy CPUs alone would mislabel a cell.  The run id is given with each.
"""

import dataclasses

import pytest

from lab import limits
from lab.results import Cell

SERIAL = "pre-fork master + N sync worker processes, one request at a time per worker"
LOCAL = limits.Setting(server_cpus=1, ceilings=None)


def cell(server: str, scenario: str, model: str = "", workers: int = 1, **figures) -> Cell:
    """A measured cell from its real figures (medians of one round)."""
    latency = figures.pop("mean_ms", None)
    return Cell(server=server, scenario=scenario, app="raw", status="ok", users=32, workers=workers,
                server_model=model, latency_ms={"mean": latency} if latency else None, **figures)


# run 20261203T072151Z
BJOERN_PLAINTEXT = cell("bjoern", "plaintext", rps=3672.5, mean_ms=5.906, server_cpu_pct=14.9, server_wait_pct=26.1,
                        server_cores_busy_pct=100.0, generator_cpu_pct=42.2, generator_wait_pct=51.6,
                        generator_cores_busy_pct=100.0)
WAITRESS_PLAINTEXT = cell("waitress", "plaintext", rps=1852.8, mean_ms=16.361, server_cpu_pct=41.7,
                          server_wait_pct=224.4, server_cores_busy_pct=100.0, generator_cpu_pct=25.6,
                          generator_wait_pct=43.2, generator_cores_busy_pct=100.0)
# run 20261203T072029Z
BJOERN_CPU = cell("bjoern", "cpu", rps=127.7, mean_ms=241.086, server_cpu_pct=29.1, server_wait_pct=70.6,
                  server_cores_busy_pct=100.0, generator_cpu_pct=1.6, generator_wait_pct=4.7,
                  generator_cores_busy_pct=100.0)
BJOERN_IO = cell("bjoern", "io", rps=48.0, mean_ms=662.073, server_cpu_pct=0.7, server_wait_pct=2.5,
                 server_cores_busy_pct=100.0, generator_cpu_pct=0.7, generator_wait_pct=2.3,
                 generator_cores_busy_pct=100.0)
GEVENT_IO = cell("gunicorn:gevent", "io", rps=854.3, mean_ms=36.876, server_cpu_pct=32.3, server_wait_pct=47.2,
                 server_cores_busy_pct=100.0, generator_cpu_pct=19.0, generator_wait_pct=29.0,
                 generator_cores_busy_pct=100.0)
# run 20261203T071910Z
GUNICORN_PLAINTEXT = cell("gunicorn", "plaintext", SERIAL, rps=196.8, mean_ms=161.668, server_cpu_pct=13.3,
                          server_wait_pct=43.9, server_cores_busy_pct=100.0, generator_cpu_pct=12.4,
                          generator_wait_pct=41.4, generator_cores_busy_pct=100.0)
# run 20261203T071031Z, sampled before the run-queue figure existed (as an older document reads)
BJOERN_JSON_OLD = cell("bjoern", "json", rps=2273.5, mean_ms=10.152, server_cpu_pct=10.6, generator_cpu_pct=89.0,
                       generator_cores_busy_pct=97.5)


def decide(measured: Cell, setting: limits.Setting = LOCAL) -> limits.Limit:
    return limits.decide(vars(measured), measured, setting)


def test_locust_that_ran_and_waited_for_its_whole_core_is_the_limit():
    found = decide(BJOERN_PLAINTEXT)
    assert found.label == "generator"
    assert found.reason.startswith("locust ran 42 % and waited 52 % of the time for a CPU")
    assert "lower bound" in found.reason


def test_busy_generator_cpus_alone_do_not_make_an_idle_locust_the_limit():
    """bjoern on io: its one thread sleeps 20 ms per request, locust ran 1 % of a core that others
    kept 100 % busy.  The server's design set the rate, not locust."""
    found = decide(BJOERN_IO)
    assert found.label == "load"
    assert found.reason.startswith("32 users × 662.1 ms mean latency cap the loop at 48 rps")


def test_a_single_process_that_ran_and_waited_a_whole_core_is_the_limit():
    for measured, start in ((BJOERN_CPU, "server ran 29 % and waited 71 %"),
                            (WAITRESS_PLAINTEXT, "server ran 42 % and waited 224 %")):
        found = decide(measured)
        assert found.label == "server", measured.server
        assert found.reason.startswith(start) and "of 1 core (one process, 1 CPU)" in found.reason


def test_the_closed_loop_caps_gevent_on_io():
    found = decide(GEVENT_IO)
    assert found.label == "load"
    assert found.reason.startswith("32 users × 36.9 ms mean latency cap the loop at 868 rps")
    assert "server CPU 32 % of 1 core, locust 19 % of its core (+29 % waiting for a CPU)" in found.reason


def test_a_serial_server_says_its_design_set_the_rate():
    found = decide(GUNICORN_PLAINTEXT)
    assert found.label == "load"
    assert "gunicorn serves one request at a time per process" in found.reason


def test_at_the_calibrated_ceiling_locust_is_the_limit_and_below_it_is_not():
    """The ceiling as ``lab calibrate`` measures it: locust against bjoern, here from the same run."""
    calibrated = limits.Setting(server_cpus=1, ceilings={"fasthttp": {"plaintext": 3672.5}})
    at = dataclasses.replace(BJOERN_PLAINTEXT, client="fasthttp", generator_cpu_pct=42.2, generator_wait_pct=0.0)
    found = decide(at, calibrated)
    assert found.label == "generator"
    assert found.reason.startswith("3,672 rps is 100% of the calibrated fasthttp ceiling on plaintext (3,672 rps)")
    below = dataclasses.replace(WAITRESS_PLAINTEXT, client="fasthttp")
    assert decide(below, calibrated).label == "server"
    assert "no calibration" not in decide(below, calibrated).reason


@pytest.mark.parametrize("rps, label", [(900.0, "generator"), (899.9, "load")])
def test_the_ceiling_clause_starts_at_exactly_90_percent(rps, label):
    calibrated = limits.Setting(server_cpus=1, ceilings={"fasthttp": {"io": 1000.0}})
    assert decide(dataclasses.replace(GEVENT_IO, client="fasthttp", rps=rps), calibrated).label == label


def test_without_calibration_the_reason_says_the_ceiling_was_not_checked():
    for measured in (BJOERN_PLAINTEXT, WAITRESS_PLAINTEXT, GEVENT_IO):
        assert decide(measured).reason.endswith("no calibration, so the calibrated ceiling was not checked")


def test_older_documents_without_the_run_queue_figure_fall_back_to_busy_cpus():
    found = decide(BJOERN_JSON_OLD)
    assert found.label == "generator"
    assert found.reason.startswith("locust's CPUs were 98 % busy (locust itself 89 %)")


@pytest.mark.parametrize("workers, cpus, expected", [(1, 2, 1), (2, 2, 2), (4, 2, 2), (2, 1, 1), (3, None, 3)])
def test_a_server_can_use_one_core_per_process_at_most_its_cpu_set(workers, cpus, expected):
    measured = dataclasses.replace(WAITRESS_PLAINTEXT, workers=workers)
    assert limits.server_cores(measured, limits.Setting(server_cpus=cpus, ceilings=None)) == expected


def test_two_workers_on_two_cpus_need_two_cores_to_be_the_limit():
    """The same 120 % of server CPU saturates one CPU but not two worker processes on two CPUs."""
    busy = dataclasses.replace(GEVENT_IO, workers=2, server_cpu_pct=120.0, server_wait_pct=10.0)
    assert decide(busy, limits.Setting(server_cpus=1, ceilings=None)).label == "server"
    assert decide(busy, limits.Setting(server_cpus=2, ceilings=None)).label == "load"


def test_a_missing_cpu_sample_names_no_limit():
    unsampled = dataclasses.replace(GEVENT_IO, server_cpu_pct=None)
    found = decide(unsampled)
    assert found.label is None and found.reason.startswith("the server's CPU not sampled")
    assert decide(dataclasses.replace(GEVENT_IO, rps=None)).label is None


def test_shared_cpus_mark_the_limit_unreliable():
    shared = limits.Setting.of({"cpus": {"server": [0], "generator": [0]}})
    assert shared.shared_cpus == (0,)
    assert decide(GEVENT_IO, shared).reason.startswith("unreliable: server and locust share CPU 0")


def test_apply_decides_every_round_and_the_cell():
    measured = dataclasses.replace(BJOERN_IO, repeats=[vars(BJOERN_IO) | {"repeats": []}, vars(BJOERN_PLAINTEXT)])
    limits.apply(measured, LOCAL)
    assert [r["limit"] for r in measured.repeats] == ["load", "generator"]
    assert measured.limit == "load" and measured.limit_reason.startswith("32 users")


def measured(server: str, model: str = "", p99: float = 0.0, wrk_p99: float = 0.0, **figures) -> Cell:
    found = cell(server, "plaintext", model, **figures)
    found.latency_ms = {**(found.latency_ms or {}), "p99": p99}
    found.wrk_latency_ms = {"p99": wrk_p99}
    return found


# run 20261203T084922Z (lean client, quiet but for one test run)
GUNICORN_VS_WRK = measured("gunicorn", SERIAL, p99=36.895, wrk_p99=20.655, rps=1755.7, mean_ms=18.179,
                           server_cpu_pct=58.9, server_wait_pct=14.5, generator_cpu_pct=59.6, generator_wait_pct=12.9,
                           wrk_rps=2630.3)
WSGIREF_VS_WRK = measured("wsgiref", "one process, one request at a time, HTTP/1.0", p99=8.359, wrk_p99=645.463,
                          rps=2285.6, mean_ms=9.275, server_cpu_pct=78.1, server_wait_pct=1.8,
                          generator_cpu_pct=77.4, generator_wait_pct=1.1, wrk_rps=1470.8)
WAITRESS_VS_WRK = measured("waitress", "one process, T threads", p99=11.415, wrk_p99=13.024, rps=6541.9,
                           mean_ms=4.564, server_cpu_pct=91.6, server_wait_pct=161.9, generator_cpu_pct=79.0,
                           generator_wait_pct=0.8, wrk_rps=5219.6)


def test_a_locust_figure_far_from_wrk_s_says_why_from_the_figures():
    serial = decide(GUNICORN_VS_WRK)
    assert serial.label == "load"
    assert "wrk got 2,630 rps at the same concurrency (-33% for locust)" in serial.reason
    assert "gunicorn waits on its client between requests" in serial.reason
    queued = decide(WSGIREF_VS_WRK)
    assert "(+55% for locust)" in queued.reason and "wrk's p99 of 645 ms" in queued.reason
    assert "listen queue" in queued.reason
    unexplained = decide(WAITRESS_VS_WRK)
    assert unexplained.label == "server" and "the lab does not establish why" in unexplained.reason


def test_within_20_percent_of_wrk_or_generator_bound_adds_nothing():
    close = dataclasses.replace(GUNICORN_VS_WRK, wrk_rps=2100.0)  # +19.6 % above locust's 1,756
    assert "wrk got" not in decide(close).reason
    bound = dataclasses.replace(BJOERN_JSON_OLD, wrk_rps=27312.1)
    assert decide(bound).label == "generator" and "at the same concurrency (" not in decide(bound).reason


# run 20261203T085742Z (lean client, quiet machine)
BJOERN_NEAR = measured("bjoern", "N single-threaded processes (libev event loop in C)", p99=6.147, wrk_p99=5.266,
                       rps=9201.1, mean_ms=1.997, server_cpu_pct=31.1, server_wait_pct=1.5, generator_cpu_pct=89.7,
                       generator_wait_pct=0.0, wrk_rps=29870.8)
WSGIREF_JSON_BUSY = measured("wsgiref", "one process, one thread, one request at a time; no keep-alive", p99=5.315,
                             wrk_p99=379.043, rps=3036.6, mean_ms=7.112, server_cpu_pct=86.6, server_wait_pct=2.0,
                             generator_cpu_pct=90.3, generator_wait_pct=0.6, wrk_rps=2732.4)


def test_a_busy_locust_is_the_limit_only_where_wrk_shows_the_server_had_room():
    near = decide(BJOERN_NEAR)  # locust at 90 % (just under the bar alone), wrk got 3.2x more
    assert near.label == "generator" and "wrk got 3.2× its rps" in near.reason
    no_room = decide(WSGIREF_JSON_BUSY)  # locust at 90 %, but wrk got no more from wsgiref
    assert no_room.label == "load", no_room.reason
    without_wrk = decide(dataclasses.replace(WSGIREF_JSON_BUSY, wrk_rps=None))
    assert without_wrk.label == "generator"  # no evidence of the server's room: locust's CPU decides


def test_threads_queueing_on_a_core_that_is_not_full_are_no_saturated_server():
    # run 20261203T085742Z: waitress at a fixed 1,119 rps, its core 60 % busy
    waitress = measured("waitress", "one process, T threads", p99=3.0, rps=1118.8, mean_ms=1.0, server_cpu_pct=40.7,
                        server_wait_pct=74.5, server_cores_busy_pct=60.4, generator_cpu_pct=30.1,
                        generator_wait_pct=1.3)
    found = decide(waitress)
    assert found.label == "load" and "hand-offs between its threads" in found.reason
    full = decide(dataclasses.replace(waitress, server_cores_busy_pct=95.0))
    assert full.label == "server"
