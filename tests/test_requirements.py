"""The lock (constraints.txt) agrees with the direct pins and covers every transitive dependency.

Both are read from the files and from the installed distributions' own metadata (no network), so a
pin changed without `make lock`, or a new dependency the lock does not name, fails here.
"""

import importlib.metadata
import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)")


def pins(path) -> dict[str, str]:
    """``name==version`` lines of a requirements or constraints file, names canonical."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


def direct_pins() -> dict[str, str]:
    files = [ROOT / "requirements.txt", *sorted((ROOT / "requirements").glob("*.txt"))]
    return {name: version for path in files for name, version in pins(path).items()}


def dependencies(name: str) -> list[str]:
    """What an installed distribution requires on this interpreter and platform (markers evaluated,
    no extras)."""
    found = []
    for text in importlib.metadata.distribution(name).requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            found.append(canonicalize_name(requirement.name))
    return found


def closure(names) -> set[str]:
    """Every distribution ``names`` pull in, themselves included."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(dependencies(name))
    return seen


def test_every_direct_pin_is_the_locked_version():
    locked = pins(ROOT / "constraints.txt")
    differing = {name: (version, locked.get(name)) for name, version in direct_pins().items()
                 if locked.get(name) != version}
    assert differing == {}, "pin -> (requirements, constraints.txt): run `make lock`"


def test_the_lock_names_every_transitive_dependency():
    locked = pins(ROOT / "constraints.txt")
    missing = sorted(closure(direct_pins()) - set(locked))
    assert missing == [], "not in constraints.txt: run `make lock`"


def test_the_installed_packages_are_the_locked_versions():
    """What `make setup` installed is what the lock says (results.json records these versions)."""
    locked = pins(ROOT / "constraints.txt")
    installed = {name: importlib.metadata.version(name) for name in closure(direct_pins())}
    assert {name: (version, locked.get(name)) for name, version in installed.items()
            if locked.get(name) != version} == {}
