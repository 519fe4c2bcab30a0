"""``python -m lab calibrate`` and the calibration every bench records, run for real (short)."""

import json

from lab import calibrate

from tests.conftest import results_of, run_lab

SHORT = ("--duration", "1", "--warmup", "0.5", "--users", "4")
BENCH = ("--servers", "bjoern", "--scenarios", "plaintext", "--wrk", "off", "--compare-rate", "off", *SHORT)


def test_calibrate_measures_both_clients_side_by_side_and_stores_the_file(tmp_path):
    done = run_lab("calibrate", "--scenarios", "plaintext,io", *SHORT, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr + done.stdout
    printed = done.stderr + done.stdout  # the rich console writes to stderr
    assert "lean rps" in printed and "fasthttp rps" in printed and "plaintext" in printed
    document = json.loads((tmp_path / calibrate.FILE_NAME).read_text())
    assert document["server"] == "bjoern" and document["users"] == 4 and document["duration_s"] == 1.0
    assert set(document["measured"]) == {"lean", "fasthttp"}
    for client in ("lean", "fasthttp"):
        plaintext, io = document["measured"][client]["plaintext"], document["measured"][client]["io"]
        assert plaintext["rps"] > 0 and plaintext["failures"] == 0
        # A rate is the generator's ceiling exactly when wrk got SERVER_ROOM times more from the same
        # server right after (on a quiet machine it does for plaintext: bjoern outruns both clients).
        room = plaintext["wrk_rps"] >= calibrate.SERVER_ROOM * plaintext["rps"]
        assert plaintext["ceiling"] is room
        assert document["ceilings"][client].get("plaintext") == (plaintext["rps"] if room else None)
        # bjoern serves io one request at a time, sleeping: that rate is bjoern's, never a ceiling.
        assert io["ceiling"] is False and "bjoern was the limit" in io["note"] and io["wrk_rps"] > 0
        assert "io" not in document["ceilings"][client]
    assert calibrate.load(tmp_path / calibrate.FILE_NAME) == document


def test_a_bench_measures_a_short_calibration_then_reuses_the_stored_one(tmp_path):
    first = run_lab("bench", *BENCH, "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr + first.stdout
    measured = results_of(tmp_path)["meta"]["calibration"]
    assert measured["source"] == "measured at the start of this bench"
    assert measured["duration_s"] == 1.0  # the bench's own --duration, below the 3 s cap
    assert list(measured["measured"]) == ["lean"] and list(measured["measured"]["lean"]) == ["plaintext"]
    stored = json.loads((tmp_path / calibrate.FILE_NAME).read_text())
    assert stored["measured_at"] == measured["measured_at"]

    second = run_lab("bench", *BENCH, "--out", str(tmp_path))
    assert second.returncode == 0, second.stderr + second.stdout
    reused = results_of(tmp_path)["meta"]["calibration"]
    assert reused["source"] == str(tmp_path / calibrate.FILE_NAME)
    assert reused["measured_at"] == measured["measured_at"]


def test_a_calibration_is_recent_only_on_the_same_generator_cpus_within_a_day():
    from lab.config import BenchOptions
    import datetime as dt

    now = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
    document = {"measured_at": "2026-12-03T07:00:00+00:00", "generator_cpus": [1], "ceilings": {},
                "measured": {"lean": {"plaintext": {}}}}
    options = BenchOptions(generator_cpus=[1], scenarios=["plaintext"])
    assert calibrate.covers(document, options, now)
    assert not calibrate.covers(document, BenchOptions(generator_cpus=[0], scenarios=["plaintext"]), now)
    assert not calibrate.covers(document, BenchOptions(generator_cpus=[1], scenarios=["json"]), now)
    assert not calibrate.covers(document, BenchOptions(generator_cpus=[1], scenarios=["plaintext"], client="fasthttp"),
                                now)
    assert not calibrate.covers(document, options, now + dt.timedelta(days=1))
