"""The WSGI servers under test, one module each, behind one small interface.

A server module declares ``CONFIGS``: a list of ``ServerConfig``, the first being the server's
default configuration.  Each config knows how to build the command line that serves a WSGI target
on a host, port and worker budget, and says in plain words what its concurrency model is, so the
report can state it.  Adding a server is adding one file here; ``discover`` finds it.  A bench
without ``--servers`` measures only ``DEFAULT_SERVERS``, the four of the lab's design; ``--servers
all`` measures every configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import pkgutil
import platform
import sys
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Launch:
    """Where and how big: the same budget is offered to every server."""

    target: str  # WSGI import target, "module:callable"
    host: str
    port: int
    workers: int
    threads: int


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """One way to run one server."""

    name: str  # what --servers accepts: "gunicorn" or "gunicorn:gthread"
    distribution: str  # the PyPI distribution (its version is recorded) and importable module
    model: str  # the concurrency model, in plain words, for the report
    command: Callable[[Launch], list[str]]
    notes: tuple[str, ...] = ()  # caveats the report prints beside this server's figures
    uses_workers: bool = True  # does --workers change anything for this config?
    uses_threads: bool = False  # does --threads?

    def argv(self, launch: Launch) -> list[str]:
        return self.command(launch)

    def version(self) -> str | None:
        if self.distribution in sys.stdlib_module_names:
            return f"stdlib (Python {platform.python_version()})"
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def unavailable_reason(self) -> str | None:
        """Why this server cannot run here (e.g. bjoern built without libev), or None."""
        try:
            importlib.import_module(self.distribution)
        except ImportError as exc:
            return f"{self.distribution} cannot be imported: {exc}"
        return None


def module_names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def discover() -> dict[str, ServerConfig]:
    """Every configuration of every server module, default configurations first."""
    configs: dict[str, ServerConfig] = {}
    for name in module_names():
        module = importlib.import_module(f"{__name__}.{name}")
        for config in module.CONFIGS:
            configs[config.name] = config
    return configs


#: What a bench without ``--servers`` measures: the design's four servers, each in its default
#: configuration.  The newer ones (granian, uwsgi, cheroot, hypercorn) need ``--servers all`` or
#: their names, so the default bench keeps its time budget.
DEFAULT_SERVERS = ("bjoern", "gunicorn", "waitress", "wsgiref")


def default_names() -> list[str]:
    """What a bench without ``--servers`` measures."""
    return list(DEFAULT_SERVERS)


def load_app(target: str):
    """Import a WSGI callable from ``"module:callable"`` (``application`` if no callable is named)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "application")


def serve_main(serve: Callable[..., None], argv: list[str] | None = None) -> None:
    """Command line of the servers the lab launches itself: ``--host --port --workers [--variant] target``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--variant", default="", help="a configuration of the server, e.g. threading")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    serve(load_app(args.target), args.host, args.port, args.workers, args.variant)


def own_argv(module: str, launch: Launch, variant: str = "") -> list[str]:
    """Command that runs one of the servers' own modules (``python -m servers.NAME ...``)."""
    return [sys.executable, "-m", module, "--host", launch.host, "--port", str(launch.port),
            "--workers", str(launch.workers), *(["--variant", variant] if variant else []), launch.target]
