"""The container path on this machine's real Docker engine: compose file, images, a whole run.

Marked ``docker``: ``make test`` leaves these out, ``make test-docker`` (and CI) runs them.  They
are skipped, with the reason printed, only where no Docker engine or compose binary answers.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.docker
SERVERS = ("bjoern", "gunicorn", "waitress", "wsgiref")


def compose_command() -> list[str] | None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


COMPOSE = compose_command()


def engine_answers() -> bool:
    return shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


needs_compose = pytest.mark.skipif(COMPOSE is None, reason="no docker compose or docker-compose binary")
needs_engine = pytest.mark.skipif(not engine_answers() or COMPOSE is None, reason="no Docker engine answers")


@needs_compose
def test_compose_file_validates_with_equal_limits_for_every_server():
    result = subprocess.run([*COMPOSE, "config"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = result.stdout
    for server in SERVERS:
        assert f"\n  {server}:\n" in config
    assert config.count("cpuset: '0'") + config.count('cpuset: "0"') == len(SERVERS)


@pytest.fixture(scope="module")
def image():
    """Build the image the way this machine can (no registry): ``make images-offline``."""
    result = subprocess.run(["make", "images-offline"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def compose_env(project: str, results, **bench) -> dict:
    env = {**os.environ, "COMPOSE_PROJECT_NAME": project, "LAB_RESULTS": str(results),
           "BENCH_SCENARIOS": "plaintext,json", "BENCH_USERS": "8", "BENCH_DURATION": "2", "BENCH_WARMUP": "1"}
    env.update({key: str(value) for key, value in bench.items()})
    return env


def runner_exit_code(env: dict) -> int:
    runner = subprocess.run([*COMPOSE, "ps", "-a", "-q", "runner"], cwd=ROOT, env=env, capture_output=True, text=True)
    inspect = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", runner.stdout.strip()],
                             capture_output=True, text=True)
    return int(inspect.stdout.strip())


def project_leftovers(project: str) -> list[str]:
    label = f"label=com.docker.compose.project={project}"
    found = []
    for kind in (["ps", "-a"], ["network", "ls"]):
        listing = subprocess.run(["docker", *kind, "-q", "--filter", label], capture_output=True, text=True)
        found += listing.stdout.split()
    return found


@pytest.fixture
def project(tmp_path):
    name = f"labtest{os.getpid()}"
    env = compose_env(name, tmp_path)
    yield name
    subprocess.run([*COMPOSE, "down", "--remove-orphans"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert project_leftovers(name) == [], "make down leaves no container or network"


def results_in(folder) -> dict:
    return json.loads((folder / "latest" / "results.json").read_text())


@needs_engine
def test_compose_up_measures_every_server_in_containers(image, project, tmp_path):
    env = compose_env(project, tmp_path)
    up = subprocess.run([*COMPOSE, "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert runner_exit_code(env) == 0, up.stdout[-4000:]
    doc = results_in(tmp_path)
    meta = doc["meta"]
    assert meta["environment"] == "containers" and meta["status"] == "complete"
    for server in SERVERS:
        limits = meta["containers"][server]
        assert limits["cpuset"] == "0" and limits["memory_mb"] and limits["cpus"] == 1.0
        assert limits["image_id"].startswith("sha256:")
    assert {(c["server"], c["scenario"]) for c in doc["cells"]} == {
        (s, sc) for s in SERVERS for sc in ("plaintext", "json")}
    for cell in doc["cells"]:
        assert cell["status"] == "ok" and cell["failures"] == 0 and cell["rps"] > 0, cell["error"]
        assert cell["server_cpu_pct"] is not None and cell["server_rss_mb"] > 0
    report = (tmp_path / "latest" / "report.md").read_text()
    assert all(server in report for server in SERVERS) and "containers" in report


@needs_engine
def test_killing_bjoern_mid_run_fails_its_cells_and_the_others_are_measured(image, project, tmp_path):
    env = compose_env(project, tmp_path, BENCH_DURATION=4)
    up = subprocess.Popen([*COMPOSE, "up"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "latest" / "results.json").exists():
            assert time.monotonic() < deadline and up.poll() is None, "the runner never started"
            time.sleep(0.5)
        time.sleep(4)  # bjoern's first cell is under load now
        bjoern = subprocess.run([*COMPOSE, "ps", "-q", "bjoern"], cwd=ROOT, env=env, capture_output=True, text=True)
        subprocess.run(["docker", "kill", bjoern.stdout.strip()], check=True, capture_output=True)
        up.wait(timeout=600)
    finally:
        if up.poll() is None:
            up.kill()
    assert runner_exit_code(env) == 1
    cells = results_in(tmp_path)["cells"]
    for cell in cells:
        if cell["server"] == "bjoern":
            assert cell["status"] == "failed" and "exit code 137" in cell["error"], cell["error"]
        else:
            assert cell["status"] == "ok", cell["error"]
    assert len(cells) == 8
    assert "exit code 137" in (tmp_path / "latest" / "report.md").read_text()
