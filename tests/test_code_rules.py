"""Rules the lab's own code keeps, checked on its syntax tree: no swallowed exception, and no sleep
standing in for synchronisation outside the places listed here with the reason they are pacing."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: (file, function) -> why a sleep there is pacing or a poll interval against a deadline, not a wait
#: for something to happen.
SLEEPS_ALLOWED = {
    ("lab/process.py", "wait_for"): "poll interval while waiting for a child, against a deadline",
    ("lab/verify.py", "wait_until_answering"): "poll interval between connection attempts, against a deadline",
    ("lab/local.py", "poll"): "the poll interval of lab.local's one wait helper, against a deadline",
    ("lab/locust_child.py", "wait_until"): "gevent yield while polling a condition, against a deadline",
    ("lab/locust_child.py", "main"): "the warm-up and the measured window are durations, not waits",
    ("lab/locust_child.py", "run"): "the warm-up and the measured window are durations, not waits",
    ("lab/probe/client.py", "until"): "poll interval of the probes' one wait helper, against a deadline",
    ("lab/locust_worker.py", "main"): "a pause between two masters' runs, pacing a restart loop",
}
SLEEPS = {"sleep"}  # time.sleep, gevent.sleep, or a bare imported sleep


def lab_files() -> list[Path]:
    return sorted((ROOT / "lab").rglob("*.py"))


def enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    """Each node's innermost enclosing function name ("<module>" at the top level)."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else name
            owner[child] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owner


def swallowed(handler: ast.ExceptHandler) -> bool:
    """A handler whose body does nothing: ``pass``, ``...`` or only a docstring."""
    return all(isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
               for stmt in handler.body)


def sleep_calls(tree: ast.AST) -> list[ast.Call]:
    def name(func: ast.AST) -> str | None:
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)

    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and name(node.func) in SLEEPS]


@pytest.mark.parametrize("path", lab_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_exception_is_swallowed(path):
    tree = ast.parse(path.read_text())
    found = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler) and swallowed(node)]
    assert not found, f"{path.relative_to(ROOT)}: except without a recorded reason or a failure at lines {found}"


@pytest.mark.parametrize("path", lab_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sleep_outside_the_allowed_pacing(path):
    tree = ast.parse(path.read_text())
    owner = enclosing_functions(tree)
    relative = str(path.relative_to(ROOT))
    found = [(node.lineno, owner[node]) for node in sleep_calls(tree) if (relative, owner[node]) not in SLEEPS_ALLOWED]
    assert not found, f"{relative}: sleep used as synchronisation at {found}; poll a condition against a deadline"


def test_the_rules_catch_what_they_forbid():
    """The checks themselves can fail: a swallowed error and a bare sleep are found."""
    tree = ast.parse("import time\ndef f():\n    try:\n        g()\n    except OSError:\n        pass\n    time.sleep(1)\n")
    assert [h.lineno for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and swallowed(h)] == [5]
    owner = enclosing_functions(tree)
    assert [(c.lineno, owner[c]) for c in sleep_calls(tree)] == [(7, "f")]
