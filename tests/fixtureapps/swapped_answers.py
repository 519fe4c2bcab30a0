"""A server's-eye view of crossed wires: ``/json`` answers with the ``/plaintext`` body, every other
route answers right.  Each answer is one the app can give, so only counting answers against the
requests sent (wrk's mixed script does) can tell that some were wrong."""

from app import application as right


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/json":
        environ = {**environ, "PATH_INFO": "/plaintext"}
    return right(environ, start_response)
