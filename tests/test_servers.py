"""Each server configuration starts on loopback, serves both app flavours correctly, and stops clean."""

import os
import socket
import time

import pytest

import servers
from app import FLAVOURS
from lab.local import free_port
from lab.process import Child, leftovers
from lab.verify import verify, wait_until_answering

CONFIGS = servers.discover()
CPUS = sorted(os.sched_getaffinity(0))[:1]


def _deadline() -> float:
    return time.monotonic() + 20


def test_every_server_module_is_discovered_with_its_default_first():
    assert servers.default_names() == ["bjoern", "gunicorn", "waitress", "wsgiref"]
    assert {"gunicorn", "gunicorn:gthread"} <= set(CONFIGS)


def test_each_config_states_its_model_and_a_version():
    for config in CONFIGS.values():
        assert config.model, config.name
        assert config.version(), config.name


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_server_starts_verifies_and_stops_clean(name, flavour, tmp_path):
    config = CONFIGS[name]
    assert config.unavailable_reason() is None, config.unavailable_reason()
    launch = servers.Launch(FLAVOURS[flavour], "127.0.0.1", free_port("127.0.0.1"), workers=2, threads=2)
    with Child(config.argv(launch), CPUS, tmp_path / "server.log", tmp_path) as server:
        wait_until_answering(launch.host, launch.port, deadline=_deadline(),
                             still_running=lambda: server.exit_code() is None)
        result = verify(launch.host, launch.port)
        assert result.problems == []
        assert leftovers(tmp_path), "the server's processes carry the run tag"
        if name == "gunicorn:gevent":
            # The first answer comes from the first booted worker; a gevent worker ignores a
            # SIGTERM that lands while it is still booting (it then needs SIGKILL): let all boot.
            time.sleep(1.5)
        took = server.stop(timeout=10)
    assert took < 10, f"{name} needed SIGKILL after SIGTERM"
    assert leftovers(tmp_path) == []


def test_bjoern_forks_one_process_per_worker(tmp_path):
    launch = servers.Launch(FLAVOURS["raw"], "127.0.0.1", free_port("127.0.0.1"), workers=3, threads=1)
    with Child(CONFIGS["bjoern"].argv(launch), CPUS, tmp_path / "log", tmp_path) as server:
        wait_until_answering(launch.host, launch.port, _deadline(), lambda: server.exit_code() is None)
        assert len(server.processes()) == 4  # the waiting parent and three serving children
    assert leftovers(tmp_path) == []


def test_a_server_that_cannot_bind_exits_and_is_reported(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        launch = servers.Launch(FLAVOURS["raw"], "127.0.0.1", port, workers=1, threads=1)
        with Child(CONFIGS["waitress"].argv(launch), CPUS, tmp_path / "log", tmp_path) as server:
            with pytest.raises(TimeoutError, match="exited before answering"):
                # the taken socket never answers HTTP, and waitress exits on EADDRINUSE
                wait_until_answering(launch.host, port, _deadline(), lambda: server.exit_code() is None)
