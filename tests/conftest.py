"""Shared helpers: run the lab's CLI for real, in a subprocess, as a user would."""

import json
import subprocess
import time
import urllib.error
import urllib.request
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_lab(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def results_of(out: Path) -> dict:
    return json.loads((out / "latest" / "results.json").read_text())


def fetch(url: str, method: str = "GET") -> tuple[int, str]:
    """Status and body; 0 when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=3) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


@pytest.fixture
def lab():
    return run_lab


@pytest.fixture
def serve(tmp_path):
    """Start a server configuration on a free loopback port, pinned to CPU 0; yields a function
    ``(name, target) -> base URL`` and stops every server it started."""
    import servers
    from lab.local import free_port
    from lab.process import Child
    from lab.verify import wait_until_answering

    children = []

    def start(name: str, target: str = "app:application") -> str:
        launch = servers.Launch(target, "127.0.0.1", free_port("127.0.0.1"), workers=1, threads=1)
        child = Child(servers.discover()[name].argv(launch), [0], tmp_path / f"{name}.log", tmp_path)
        children.append(child)
        wait_until_answering(launch.host, launch.port, time.monotonic() + 20, lambda: child.exit_code() is None)
        return f"http://{launch.host}:{launch.port}"

    yield start
    for child in children:
        child.stop()
