"""Run one request through ``wsgiref.validate`` and return what the application started and sent.

Shared by the contract suite and the property tests: both call the WSGI callables directly.
"""

from wsgiref.validate import validator

import pytest


def validated_call(application, environ: dict, inject) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, header list and body of one validated call; ``inject(env)`` may change the
    environ after the validator checked it (values a buggy server could send)."""
    def app_after_validation(env, start_response):
        inject(env)
        return application(env, start_response)

    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers))
        return lambda data: pytest.fail("the write() callable must not be used")

    result = validator(app_after_validation)(environ, start_response)
    try:
        received = b"".join(result)
    finally:
        result.close()
    assert len(started) == 1
    status_line, header_list = started[0]
    names = [name.lower() for name, _ in header_list]
    assert len(names) == len(set(names)), f"duplicate headers: {header_list}"
    return status_line, header_list, received
