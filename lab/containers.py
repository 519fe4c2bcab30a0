"""Servers running as containers of the lab's compose project, reached by their service names.

The runner container measures them one at a time while the others idle.  Their CPU and memory come
from the Engine API (the container's cgroup, so every process in it counts), their liveness from
the container's state, and their image ids and limits are recorded in the run's metadata.  The
Docker SDK is imported only here: local runs never need it.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import time

import docker
from docker.errors import DockerException

from lab.results import CellFailed
from lab.sampler import Usage
from lab.verify import wait_until_answering

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PORT = 8000
WORKER_SERVICE = "locust-worker"


class ContainerError(Exception):
    """The Engine or the project's containers cannot be used; it ends the cell or the run."""


def service_name(config_name: str) -> str:
    """``gunicorn:gthread`` -> ``gunicorn-gthread`` (service names cannot hold a colon)."""
    return config_name.replace(":", "-")


class Project:
    """The compose project this runner belongs to, found from its own container's labels."""

    def __init__(self):
        try:
            self.client = docker.from_env()
            me = self.client.containers.get(socket.gethostname())
        except DockerException as exc:
            raise ContainerError(f"cannot inspect this container through the Docker socket: {exc}") from None
        self.runner = me
        self.name = me.labels.get(PROJECT_LABEL)
        if not self.name:
            raise ContainerError("this container is not part of a compose project")

    def containers(self, service: str | None = None, all: bool = True) -> list:  # noqa: A002 - SDK's word
        labels = [f"{PROJECT_LABEL}={self.name}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
        return self.client.containers.list(all=all, filters={"label": labels})

    def container(self, service: str):
        found = self.containers(service)
        if not found:
            raise ContainerError(f"no container for service {service} in project {self.name}")
        return found[0]

    def describe(self) -> dict:
        """Image id and limits of every container of the project, for ``meta.containers``."""
        return {c.labels.get(SERVICE_LABEL, c.name): describe(c) for c in self.containers()}

    def stop_others(self) -> None:
        """Stop every other container of the project, so a bare ``docker compose up`` returns."""
        for container in self.containers(all=False):
            if container.id != self.runner.id:
                container.stop(timeout=10)


def describe(container) -> dict:
    host = container.attrs["HostConfig"]
    config = container.attrs["Config"]
    return {"image_id": container.attrs["Image"], "image": config.get("Image"),
            "command": (config.get("Entrypoint") or []) + (config.get("Cmd") or []),
            "cpuset": host.get("CpusetCpus") or None, "cpus": (host.get("NanoCpus") or 0) / 1e9 or None,
            "memory_mb": (host.get("Memory") or 0) / 2**20 or None, "init": host.get("Init")}


def memory_rss_mb(memory_stats: dict) -> float:
    """Resident memory of the cgroup: anonymous pages, not the page cache (cgroup v1 and v2)."""
    stats = memory_stats.get("stats") or {}
    for key in ("total_rss", "rss", "anon"):
        if key in stats:
            return stats[key] / 2**20
    return memory_stats.get("usage", 0) / 2**20


class ContainerUsage:
    """CPU% (of one core), RSS and CPU seconds of a container (its cgroup: every process in it),
    with the same ``sample()`` as ``ProcessTree``."""

    def __init__(self, client, container_id: str):
        self.api = client.api
        self.container_id = container_id
        self.last: tuple[int, float] | None = None

    def sample(self) -> Usage | None:
        """The container's usage since the last reading; None when the Engine gave no reading (a
        missing sample, never 0 CPU and 0 memory).  The first reading only primes the CPU delta."""
        try:
            stats = self.api.stats(self.container_id, stream=False, one_shot=True)
            usage = stats["cpu_stats"]["cpu_usage"]["total_usage"]
        except (DockerException, KeyError, TypeError):  # a stopped container has no cpu_usage
            return None
        now = time.monotonic()
        cpu = 0.0 if self.last is None else (usage - self.last[0]) / 1e9 / (now - self.last[1]) * 100
        self.last = (usage, now)
        processes = (stats.get("pids_stats") or {}).get("current")
        return Usage(cpu, memory_rss_mb(stats.get("memory_stats") or {}), usage / 1e9, processes)


def exit_reason(container) -> str | None:
    """Why a server container is not serving, or None while it runs."""
    try:
        container.reload()
    except DockerException as exc:
        return f"container {container.name} is gone ({exc})"
    state = container.attrs["State"]
    if state.get("Status") == "running":
        return None
    return (f"container {container.name} is {state.get('Status')} (exit code {state.get('ExitCode')}"
            f"{', killed by the OOM killer' if state.get('OOMKilled') else ''})")


def served_command(container) -> list[str] | None:
    """The exact server command, as ``python -m servers`` logged it before executing it."""
    from servers.__main__ import SERVING_WITH

    first = b""
    try:
        stream = container.logs(stream=True, follow=False)
        for chunk in stream:
            first += chunk
            if b"\n" in first:
                break
        stream.close()
    except DockerException:
        return None
    line = first.decode(errors="replace").split("\n", 1)[0]
    return shlex.split(line[len(SERVING_WITH):]) if line.startswith(SERVING_WITH) else None


def log_tail(container, lines: int = 15) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").strip()
    except DockerException as exc:
        return f"(log of {container.name} unavailable: {exc})"


class ContainerServer:
    """An already running server container: checked on entry, left idling on exit."""

    def __init__(self, project: Project, config, options):
        self.project, self.options = project, options
        self.service = service_name(config.name)
        try:
            self.container = project.container(self.service)
        except ContainerError as exc:
            raise CellFailed(str(exc)) from None
        self.host, self.port = self.service, PORT
        self.notes: list[str] = []
        self.command = served_command(self.container) or describe(self.container)["command"]

    def __enter__(self) -> ContainerServer:
        reason = exit_reason(self.container)
        if reason:
            raise CellFailed(f"{reason}; log: {log_tail(self.container)}")
        try:
            wait_until_answering(self.host, self.port, time.monotonic() + self.options.start_timeout,
                                 lambda: exit_reason(self.container) is None)
        except TimeoutError as exc:
            raise CellFailed(f"service {self.service} {exc}: {exit_reason(self.container)}") from None
        self.usage = ContainerUsage(self.project.client, self.container.id)
        return self

    def __exit__(self, *exc_info) -> None:
        """The container stays up, idle, until the run ends."""

    def failure(self) -> str | None:
        return exit_reason(self.container)

    def log_tail(self) -> str:
        return log_tail(self.container)


class ContainerBackend:
    """Servers are the compose project's services; the run records their images and limits."""

    environment = "containers"

    def __init__(self):
        self.project = Project()

    def server(self, config, options, workers, threads, log_path, run_dir) -> ContainerServer:
        """The service's container; its command fixed workers and threads (the cell records them)."""
        return ContainerServer(self.project, config, options)

    def describe(self) -> dict:
        return {"containers": self.project.describe(), "compose_project": self.project.name}

    @contextlib.contextmanager
    def locust_workers(self, options, files):
        """The running ``locust-worker`` services (``docker compose up --scale locust-worker=N``)."""
        running = self.project.containers(WORKER_SERVICE, all=False)
        yield [ContainerUsage(self.project.client, container.id) for container in running]

    def finish(self) -> None:
        """The run is over: stop the idle servers (and workers) so ``docker compose up`` returns."""
        self.project.stop_others()
