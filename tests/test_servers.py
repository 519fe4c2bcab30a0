"""Each server configuration starts on loopback, serves both app flavours correctly, and stops clean."""

import http.client
import os
import socket
import time

import pytest

import servers
from app import FLAVOURS
from lab import config as lab_config
from lab.local import free_port
from lab.process import Child, leftovers
from lab.verify import verify, wait_until_answering

CONFIGS = servers.discover()
CPUS = sorted(os.sched_getaffinity(0))[:1]


def _deadline() -> float:
    return time.monotonic() + 20


def test_every_server_module_is_discovered_and_the_default_is_the_designs_four():
    assert servers.default_names() == ["bjoern", "gunicorn", "waitress", "wsgiref"]
    assert {"gunicorn", "gunicorn:gthread", "granian", "uwsgi", "uwsgi:http11", "cheroot",
            "hypercorn"} <= set(CONFIGS)


def test_servers_all_means_every_configuration():
    options = lab_config.BenchOptions(servers=["all"])
    resolved = lab_config.resolve(options, list(CONFIGS), servers.default_names(),
                                  list(lab_config.KNOWN_SCENARIOS))
    assert resolved.servers == list(CONFIGS)
    default = lab_config.resolve(lab_config.BenchOptions(), list(CONFIGS), servers.default_names(),
                                 list(lab_config.KNOWN_SCENARIOS))
    assert default.servers == servers.default_names()


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
        assert keeps_alive(launch.host, launch.port) == promises_keep_alive(config)
        if config.uses_workers:
            wait_for_processes(server, launch.workers + 1)  # a master or parent, and the workers
        assert leftovers(tmp_path), "the server's processes carry the run tag"
        if name == "gunicorn:gevent":
            # The first answer comes from the first booted worker; a gevent worker ignores a
            # SIGTERM that lands while it is still booting (it then needs SIGKILL): let all boot.
            time.sleep(1.5)
        took = server.stop(timeout=10)
    assert took < 10, f"{name} needed SIGKILL after SIGTERM"
    assert leftovers(tmp_path) == []


def promises_keep_alive(config: servers.ServerConfig) -> bool:
    """What the model the report prints says about keep-alive."""
    return "keep-alive" in config.model and "no keep-alive" not in config.model


def keeps_alive(host: str, port: int) -> bool:
    """Does a second request on the same connection get an answer? A server may refuse by saying
    ``Connection: close`` or, like uWSGI's --http-socket, by closing without a word."""
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        for _ in range(2):
            connection.request("GET", "/plaintext")
            response = connection.getresponse()
            response.read()
            if response.will_close:
                return False
        return True
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return False
    finally:
        connection.close()


def wait_for_processes(server: Child, count: int) -> None:
    deadline = _deadline()
    while len(server.processes()) < count:
        assert time.monotonic() < deadline, f"{len(server.processes())} processes, expected {count}"
        time.sleep(0.1)


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
