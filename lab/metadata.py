"""The environment a run was measured in, so it can be reproduced and compared.

Small ``collect_*`` functions, each skipping what this machine cannot tell (after pyperf's
``_collect_metadata``).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys

from lab.process import PROJECT_ROOT
from lab.results import GENERATOR_BOUND_CPU_PCT

PACKAGES = ("locust", "geventhttpclient", "gevent", "hdrhistogram", "psutil", "gunicorn", "waitress",
            "bjoern", "Flask", "Werkzeug", "Jinja2", "matplotlib")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def collect_git() -> dict:
    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                    timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"revision": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def collect_python() -> dict:
    return {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "executable": sys.executable}


def collect_packages() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # no /proc (not Linux): ask the platform module instead
        return platform.processor() or None
    return platform.processor() or None


def collect_host() -> dict:
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
            "cpus_available": sorted(os.sched_getaffinity(0)), "platform": platform.platform(),
            "kernel": platform.release(), "hostname": platform.node()}


def collect_servers(configs) -> dict[str, dict]:
    """What the report states about each measured server configuration."""
    described = {}
    for config in configs:
        reason = config.unavailable_reason()
        described[config.name] = {"version": config.version(), "model": config.model,
                                  "notes": list(config.notes), "available": reason is None,
                                  "reason": reason}
    return described


def collect(options, configs, environment: str = "local") -> dict:
    return {
        "lab": collect_git(),
        "started_at": now().isoformat(timespec="seconds"),
        "finished_at": None,
        "status": "running",
        "environment": environment,
        "python": collect_python(),
        "packages": collect_packages(),
        "servers": collect_servers(configs),
        "host": collect_host(),
        "cpus": {"server": options.server_cpus, "generator": options.generator_cpus},
        "generator_bound_cpu_pct": GENERATOR_BOUND_CPU_PCT,
        "options": options.to_json(),
    }
