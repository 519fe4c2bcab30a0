"""locust scenarios of the application's hot request paths (see ``loadtests.scenarios``).

``NAMES`` lists them without importing locust, which monkey-patches the whole process with gevent:
the orchestrator validates options against it and runs locust in a process of its own.

* ``NAMES``: every scenario (``loadtests.scenarios.SCENARIOS`` has exactly these keys), to
  validate a requested scenario against.
* ``DEFAULT``: the scenarios a bench runs when none are named: the original five.  The workload
  scenarios (``io``, ``cpu``, ``large``, ``upload``) run only when asked for.
"""

DEFAULT = ("plaintext", "json", "home", "signin", "mixed")
WORKLOADS = ("io", "cpu", "large", "upload")
NAMES = DEFAULT + WORKLOADS
