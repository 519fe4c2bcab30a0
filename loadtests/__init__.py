"""locust scenarios of the application's hot request paths (see ``loadtests.scenarios``).

``NAMES`` lists them without importing locust, which monkey-patches the whole process with gevent:
the orchestrator validates options against it and runs locust in a process of its own.
"""

NAMES = ("plaintext", "json", "home", "signin", "mixed")
