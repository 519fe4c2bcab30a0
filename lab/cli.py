"""``python -m lab``: one function per subcommand and a dispatch table (after pyperf's ``__main__``).

Bad options raise ``UsageError`` and an unusable run folder ``ResultsError``; ``main`` turns either
into one line and exit code 2.
Exit codes: 0 every cell and round ok, 1 some cell or round failed, 2 bad options, 130 interrupted (Ctrl-C/SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import servers
from lab import bench, config, live, report
from lab.console import TerminalProgress, corpus_table, probe_table, summary_table
from lab.local import LocalBackend
from lab.results import ResultsError

EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CELL_OVERHEAD_S = 4.0  # start, verify, locust start-up, stop: a first guess for the remaining time


class UsageError(Exception):
    """Bad command line; printed as one line, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def add_options(parser: argparse.ArgumentParser) -> None:
    """One flag per ``BenchOptions`` field, with its help and default from the one declaration."""
    for field in config.cli_fields():
        help_text = f"{field.metadata['help']} (default: {config.default_text(field)})"
        parser.add_argument(config.flag_name(field), dest=field.name, metavar=field.metadata["metavar"],
                            help=help_text.replace("%", "%%"))


def build_parser() -> Parser:
    parser = Parser(prog="python -m lab", description="WSGI server comparison lab")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, text in (("bench", "measure servers x scenarios and write reports"),
                       ("probe", "run the conformance probes of every server and write reports"),
                       ("calibrate", "measure the generator's ceiling per scenario, lean and fasthttp side by "
                                     "side, against the cheapest server; stored in OUT/calibration.json")):
        add_options(commands.add_parser(name, help=text))
    report_parser = commands.add_parser("report", help="re-render the reports of a run from its results.json")
    report_parser.add_argument("run", type=Path, help="run folder, e.g. results/latest")
    compare_parser = commands.add_parser("compare", help="compare two runs cell by cell, judged on their repeats")
    compare_parser.add_argument("run_a", type=Path, help="the baseline run folder")
    compare_parser.add_argument("run_b", type=Path, help="the run compared with it")
    compare_parser.add_argument("--out", type=Path, default=None,
                                help="folder for compare.md and compare.html "
                                     "(default: compare-A-vs-B beside the baseline run)")
    compare_parser.add_argument("--force", action="store_true",
                                help="write into the output folder even if it already exists")
    commands.add_parser("options", help="print the bench options as a Markdown table (for README)")
    return parser


def parse_options(args: argparse.Namespace) -> config.BenchOptions:
    """Convert the given flags with each option's own parser; unknown names are refused later."""
    given = {}
    for field in config.cli_fields():
        text = getattr(args, field.name)
        if text is None:
            continue
        try:
            given[field.name] = field.metadata["parse"](text)
        except (ValueError, config.ConfigError) as exc:
            raise UsageError(f"{config.flag_name(field)} {text!r}: {exc}") from None
    return config.BenchOptions(**given)


def resolve(options: config.BenchOptions) -> tuple[config.BenchOptions, dict]:
    configs = servers.discover()
    try:
        resolved = config.resolve(options, list(configs), servers.default_names(), list(config.KNOWN_SCENARIOS))
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    return resolved, configs


def interrupt_on_sigterm() -> None:
    """SIGTERM stops a bench the way Ctrl-C does; a second signal is ignored while cleaning up."""
    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def backend_for(options: config.BenchOptions):
    """Local processes, or the compose project's containers (the Docker SDK is needed only then)."""
    if options.mode == "local":
        return LocalBackend()
    from lab.containers import ContainerBackend, ContainerError

    try:
        return ContainerBackend()
    except ContainerError as exc:
        raise UsageError(str(exc)) from None


def cmd_measure(args: argparse.Namespace) -> int:
    """``bench`` and ``probe``: measure into a new run folder, then print what was found."""
    options, configs = resolve(parse_options(args))
    backend = backend_for(options)
    progress = live.watched(TerminalProgress(options.warmup + options.duration + CELL_OVERHEAD_S), options)
    interrupt_on_sigterm()
    try:
        run_dir, run = COMMAND_RUNS[args.command](options, configs, backend, progress)
    except KeyboardInterrupt:
        progress.close()
        latest = options.out / "latest"
        progress.console.print(f"interrupted: the cells finished so far are in {latest.resolve()}")
        return EXIT_INTERRUPTED
    progress.close()
    if run.meta.get("probes"):
        progress.console.print(probe_table(run))
    if run.meta.get("corpus"):
        progress.console.print(corpus_table(run))
    if run.cells:
        progress.console.print(summary_table(run))
    progress.console.print(f"reports: {run_dir / 'report.html'} and {run_dir / 'report.md'}")
    clean = all(cell.ok and not cell.failed_rounds for cell in run.cells)
    return EXIT_OK if clean else EXIT_FAILED_CELLS


def cmd_report(args: argparse.Namespace) -> int:
    for path in report.write_reports(args.run):
        print(path)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from lab.report.compare import write_comparison

    run_a, run_b = args.run_a.resolve(), args.run_b.resolve()
    out = args.out or run_a.parent / f"compare-{run_a.name}-vs-{run_b.name}"
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists: pass --force to overwrite it, or --out another folder")
    for path in write_comparison(run_a, run_b, out):
        print(path)
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``calibrate``: both clients on every scenario asked for; a table, and the file for later benches."""
    from lab import calibrate

    options, configs = resolve(parse_options(args))
    progress = TerminalProgress(options.warmup + options.duration + CELL_OVERHEAD_S)
    interrupt_on_sigterm()
    try:
        path, document = calibrate.standalone(options, configs, backend_for(options), progress)
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        progress.close()
        return EXIT_INTERRUPTED
    progress.close()
    progress.console.print(calibrate.table(document))
    if document["server_note"]:
        progress.console.print(document["server_note"])
    progress.console.print(f"stored in {path}")
    failed = [f["note"] for by in document["measured"].values() for f in by.values() if f["rps"] is None]
    return EXIT_FAILED_CELLS if failed else EXIT_OK


def cmd_options(args: argparse.Namespace) -> int:
    print(config.options_markdown())
    return EXIT_OK


COMMANDS = {"bench": cmd_measure, "probe": cmd_measure, "report": cmd_report, "compare": cmd_compare,
            "options": cmd_options, "calibrate": cmd_calibrate}
COMMAND_RUNS = {"bench": bench.bench, "probe": bench.probe}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ResultsError, config.ConfigError) as exc:  # a run folder without a usable results.json too
        print(f"lab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
