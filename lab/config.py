"""Every option of a bench declared once, with its default, flag and help.

The CLI flags (``lab.cli``) and README's option table are both generated from ``BenchOptions``,
in the way gunicorn declares one ``Setting`` per option and waitress lists its adjustments.
``resolve`` checks options against what exists (servers, scenarios, CPUs) in one place.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import random
import subprocess
import sys
from pathlib import Path

import app as lab_app
from lab.process import PROJECT_ROOT, base_environment
from loadtests import DEFAULT as DEFAULT_SCENARIOS
from loadtests import NAMES as KNOWN_SCENARIOS


class ConfigError(Exception):
    """An option that cannot be used; the CLI prints it as one line and exits 2."""


def csv_list(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``, refusing empty items."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ConfigError(f"empty item in list {text!r}")
    return items


def cpu_list(text: str) -> list[int]:
    """``"0"``, ``"0,1"`` or ``"0-3"`` -> CPU numbers (taskset's syntax)."""
    cpus: list[int] = []
    for item in csv_list(text):
        low, _, high = item.partition("-")
        try:
            cpus.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise ConfigError(f"not a CPU list: {text!r}") from None
    return cpus


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ConfigError(f"{text} is not a positive integer")
    return value


def positive_ints(text: str) -> list[int]:
    """``"1,8,32"`` -> ``[1, 8, 32]``, sorted and without duplicates."""
    return sorted({positive_int(item) for item in csv_list(text)})


def non_negative_ints(text: str) -> list[int]:
    values = sorted({int(item) for item in csv_list(text)})
    if values[0] < 0:
        raise ConfigError(f"{text} has a negative number")
    return values


def optional_rate(text: str) -> float | None:
    """A fixed arrival rate in requests/s, or ``off``."""
    if text == "off":
        return None
    value = float(text)
    if value <= 0:
        raise ConfigError(f"{text} is not a positive rate")
    return value


def compare_rate(text: str) -> str:
    """``auto``, ``off`` or a positive rate in requests/s (kept as text: ``auto`` is decided in the run)."""
    if text in ("auto", "off"):
        return text
    optional_rate(text)
    return text


def one_of(*choices: str):
    """A parser accepting only ``choices`` (e.g. ``auto``/``off``)."""
    def parse(text: str) -> str:
        if text not in choices:
            raise ConfigError(f"{text} is not one of {', '.join(choices)}")
        return text

    return parse


def calibration_source(text: str) -> str:
    """``auto``, ``off`` or the path of an existing calibration file."""
    if text in ("auto", "off"):
        return text
    from lab.calibrate import load  # checks the file's fields, raising ConfigError

    load(Path(text))
    return text


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ConfigError(f"{text} is negative")
    return value


def live_port(text: str) -> int:
    """A TCP port with room for the next one (locust's web UI), or 0 for off."""
    value = int(text)
    if not 0 <= value < 65535:
        raise ConfigError(f"{text} is not a port number below 65535")
    return value


def loopback(text: str) -> str:
    """Servers run here only on loopback: the lab never sends load anywhere else."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(f"{text} is not an IP address") from None
    if not address.is_loopback:
        raise ConfigError(f"{text} is not a loopback address (127.0.0.0/8 or ::1)")
    return text


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise ConfigError(f"{text} is not a folder")
    return path


def option(default, parse, help: str, metavar: str = "", default_factory=None, shown: str | None = None):
    """A dataclass field carrying its CLI parser, help text and how its default reads in docs."""
    meta = {"parse": parse, "help": help, "metavar": metavar, "shown": shown}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class BenchOptions:
    """What a bench measures and how; stored whole in every result's ``meta.options``."""

    mode: str = option("local", one_of("local", "containers"), "`local`: the lab starts each server as a local process; "
                       "`containers`: the servers are the compose project's services (used by the "
                       "runner service of docker-compose.yml)", "MODE")
    servers: list[str] = option(
        None, csv_list, "server configurations to measure, e.g. `gunicorn,bjoern` or "
        "`gunicorn:gthread`; `all` = every configuration", "A,B", default_factory=list,
        shown="bjoern, gunicorn, waitress, wsgiref (the design's four)")
    scenarios: list[str] = option(
        None, csv_list, "locust scenarios to run", "X,Y", default_factory=lambda: list(DEFAULT_SCENARIOS))
    app: str = option("raw", str, "application flavour: `raw`, `flask`, or a `module:callable` "
                      "WSGI target", "FLAVOUR")
    users: list[int] = option(None, positive_ints, "concurrent locust users; several steps "
                              "(`1,8,32,128`) make a concurrency sweep", "N[,N]", default_factory=lambda: [32])
    client: str = option("lean", one_of("lean", "fasthttp"), "locust's HTTP client: `lean` (raw HTTP/1.1 "
                         "on gevent sockets, parsed by httptools, several times locust's own rate per core) "
                         "or `fasthttp` (locust's FastHttpUser)", "CLIENT")
    rate: float | None = option(None, optional_rate, "fixed arrival rate in requests/s for all users "
                                "together (open loop, latency from each request's intended start); "
                                "`off` = closed loop with no wait time", "RPS", shown="off")
    compare_rate: str = option("auto", compare_rate, "offered rate of the common-rate step: after the matrix, "
                               "every configuration of a scenario is measured once more at this fixed rate "
                               "(4 s, latency from each request's intended start), the latency the verdict "
                               "compares; `auto` = 50 % of the slowest configuration's capacity in this run, "
                               "`off` = no step", "RPS")
    compare_scenarios: list[str] = option(
        None, csv_list, "scenarios that get the common-rate step: `auto` = `plaintext` and `mixed` when the "
        "bench runs them (the cheapest route and the blend of all four; this keeps the default bench within "
        "5 minutes), else every scenario of the bench; `all`; or a list", "X,Y", default_factory=lambda: ["auto"])
    repeat: int = option(1, positive_int, "rounds of the whole matrix, each in a freshly shuffled order, "
                         "plus an A/A twin of the first cell for the noise floor; figures are medians "
                         "with min-max and CV", "N")
    seed: int | None = option(None, int, "seed of the shuffled round order (recorded in the results)",
                              "N", shown="random")
    duration: float = option(5.0, non_negative_float, "measured seconds per cell", "SECONDS")
    warmup: float = option(1.0, non_negative_float, "seconds of load before measuring, not counted",
                           "SECONDS")
    wrk: str = option("auto", one_of("auto", "off"), "peak rps with wrk after locust, on every scenario, at "
                      "the same concurrency, every answer checked (`auto`: where wrk is installed; `off`)", "MODE")
    wrk_duration: float = option(2.0, non_negative_float, "measured seconds of each wrk run", "SECONDS")
    calibration: str = option("auto", calibration_source, "the generator's calibrated ceiling per scenario "
                              "(`python -m lab calibrate`), stored in the run's meta: `auto` = `OUT/calibration.json` "
                              "if measured in the last 24 h on these generator CPUs for this client and these "
                              "scenarios, else a short calibration (3 s per scenario) before the matrix; "
                              "`off`; or the path of a calibration file", "SOURCE")
    probes: str = option("off", one_of("on", "off"), "run the conformance probes before the matrix "
                         "(`python -m lab probe` runs them alone)", "MODE")
    corpus: Path | None = option(None, existing_dir, "folder of raw `.http` requests the probes replay against "
                                 "every server and tally (e.g. gunicorn's `tests/requests`); turns the probes on", "DIR", shown="none")
    locust_workers: int = option(0, int, "locust worker processes on the generator CPUs, driven by a "
                                 "locust master (0 = one local locust process); in containers, the "
                                 "running `locust-worker` services are used instead", "N")
    workers: list[int] = option(None, non_negative_ints, "worker processes for servers that fork; "
                                "several (`1,2,4`) sweep them (0 = one per CPU of the server's CPU set)",
                                "N[,N]", default_factory=lambda: [0])
    threads: list[int] = option(None, positive_ints, "threads per worker for threaded servers "
                                "(waitress, gunicorn:gthread, granian, uwsgi, cheroot); several "
                                "(`1,4,16`) sweep them", "N[,N]", default_factory=lambda: [4])
    server_cpus: list[int] = option(None, cpu_list, "CPUs the server is pinned to", "LIST",
                                    default_factory=list, shown="first half of the CPUs")
    generator_cpus: list[int] = option(None, cpu_list, "CPUs locust is pinned to", "LIST",
                                       default_factory=list, shown="the other CPUs")
    share_cpus: str = option("off", one_of("on", "off"), "let the server and locust share CPUs (a "
                             "1-CPU machine); refused otherwise, since a saturated server would then "
                             "read as a saturated generator: every limit is marked unreliable", "MODE")
    out: Path = option(Path("results"), Path, "folder that receives `<UTC timestamp>/` run folders",
                       "DIR")
    host: str = option("127.0.0.1", loopback, "loopback address servers listen on", "ADDR")
    start_timeout: float = option(20.0, non_negative_float, "seconds a server may take to answer",
                                  "SECONDS")
    stop_timeout: float = option(10.0, non_negative_float, "seconds after SIGTERM before SIGKILL",
                                 "SECONDS")
    live: int = option(0, live_port, "watch the run in a browser: the cells finished so far and a partial "
                       "report on this port, locust's web UI (read-only) of the cell in progress on the next "
                       "one (0 = off; the compose runner uses 8088)", "PORT")

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["out"] = str(self.out)
        data["corpus"] = None if self.corpus is None else str(self.corpus)
        return data


def cli_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(BenchOptions))


def flag_name(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def default_text(field: dataclasses.Field) -> str:
    if field.metadata["shown"]:
        return field.metadata["shown"]
    if field.default_factory is not dataclasses.MISSING:
        return ",".join(map(str, field.default_factory()))
    return str(field.default)


def options_markdown() -> str:
    """README's option table, generated so docs and flags cannot drift apart."""
    lines = ["| option | default | meaning |", "|---|---|---|"]
    for field in cli_fields():
        meta = field.metadata
        flag = f"{flag_name(field)} {meta['metavar']}".strip()
        lines.append(f"| `{flag}` | {default_text(field)} | {meta['help']} |")
    return "\n".join(lines)


def split_cpus(available: list[int]) -> tuple[list[int], list[int]]:
    """Server gets the first half of the CPUs, the generator the rest (both share a lone CPU, which
    ``check_cpus`` refuses unless ``--share-cpus on``)."""
    if len(available) < 2:
        return available, available
    half = len(available) // 2
    return available[:half], available[half:]


def check_cpus(server_cpus: list[int], generator_cpus: list[int], share: str) -> None:
    """Refuse overlapping CPU sets unless sharing was asked for: on a shared CPU the server's work
    shows as the generator's CPUs being busy, and the limit could not be told apart."""
    shared = sorted(set(server_cpus) & set(generator_cpus))
    if shared and share == "off":
        raise ConfigError(f"--server-cpus {','.join(map(str, server_cpus))} and --generator-cpus "
                          f"{','.join(map(str, generator_cpus))} share CPU {','.join(map(str, shared))}: "
                          "pass --share-cpus on to measure anyway (limits then marked unreliable)")


#: Seconds the import of an ``--app`` target may take in its own process before it is refused.
APP_IMPORT_TIMEOUT_S = 60.0
#: Imports the target as the servers will (``servers.load_app``) and checks it is callable.
APP_CHECK = "import sys; from servers import load_app; assert callable(load_app(sys.argv[1])), 'not callable'"


def check_app(flavour: str) -> None:
    """Import the WSGI target in a separate Python process with a server's environment, before
    anything starts.  Not in this process: an app may monkey-patch (gevent), start threads or change the
    process state the orchestrator relies on.  The last line of the error is the reason."""
    target = lab_app.FLAVOURS.get(flavour, flavour)
    try:
        result = subprocess.run([sys.executable, "-c", APP_CHECK, target], capture_output=True, text=True,
                                cwd=PROJECT_ROOT, env=base_environment(), timeout=APP_IMPORT_TIMEOUT_S,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"--app {flavour}: importing {target} took over {APP_IMPORT_TIMEOUT_S:g} s") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit code {result.returncode}"]
        raise ConfigError(f"--app {flavour}: {target} cannot be served: {lines[-1]}")


def check_bounds(options: BenchOptions) -> None:
    """Numbers that parse but cannot work: each would fail every cell after the servers start."""
    for name in ("duration", "start_timeout"):
        if getattr(options, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be above 0 seconds")
    if options.locust_workers < 0:
        raise ConfigError("--locust-workers cannot be negative")
    if options.out.exists() and not options.out.is_dir():
        raise ConfigError(f"--out {options.out} is a file, not a folder")


def resolve(options: BenchOptions, known_servers: list[str], default_servers: list[str],
            known_scenarios: list[str]) -> BenchOptions:
    """Fill in defaults that depend on the machine and refuse anything unknown, in one place."""
    servers = options.servers or list(default_servers)
    if "all" in servers:
        servers = list(known_servers)
    unknown = [name for name in servers if name not in known_servers]
    if unknown:
        raise ConfigError(f"unknown server {', '.join(unknown)} (known: {', '.join(known_servers)})")
    bad = [name for name in options.scenarios if name not in known_scenarios]
    if bad:
        raise ConfigError(f"unknown scenario {', '.join(bad)} (known: {', '.join(known_scenarios)})")
    bad = [name for name in options.compare_scenarios if name not in [*known_scenarios, "auto", "all"]]
    if bad:
        raise ConfigError(f"--compare-scenarios: unknown scenario {', '.join(bad)}")
    check_bounds(options)
    available = sorted(os.sched_getaffinity(0))
    server_default, generator_default = split_cpus(available)
    if options.mode == "containers":  # the servers' cpuset is the compose file's, not ours
        server_default, generator_default = [], available
    server_cpus = options.server_cpus or server_default
    generator_cpus = options.generator_cpus or generator_default
    missing = sorted(set(generator_cpus + (server_cpus if options.mode == "local" else [])) - set(available))
    if missing:
        raise ConfigError(f"CPU {missing} not available to this process (have {available})")
    if options.mode == "local":
        check_cpus(server_cpus, generator_cpus, options.share_cpus)
    if options.rate and options.locust_workers:
        raise ConfigError("--rate drives users from one locust process; it cannot be combined with "
                          "--locust-workers")
    workers = sorted({count or len(server_cpus) or 1 for count in options.workers})
    if options.mode == "containers" and (len(workers) > 1 or len(options.threads) > 1):
        raise ConfigError("--workers and --threads sweeps need local servers: a container's command "
                          "fixes them")
    check_app(options.app)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    return dataclasses.replace(options, servers=servers, server_cpus=server_cpus,
                               generator_cpus=generator_cpus, workers=workers, seed=seed)
