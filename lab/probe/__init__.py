"""Conformance probes: how each server behaves where a benchmark's happy path never goes.

* :mod:`lab.probe.client`: a raw HTTP/1.1 client, bytes out, h11-parsed replies in;
* :mod:`lab.probe.app`: the app the probes run against, which leaves the server's jobs to it;
* :mod:`lab.probe.checks`: behaviour probes (keep-alive, HEAD, a slow client, SIGTERM...);
* :mod:`lab.probe.parsing`: request-parsing probes, classified against h11;
* :mod:`lab.probe.corpus`: replay of a folder of raw ``.http`` requests (``--corpus``);
* :mod:`lab.probe.runner`: servers started, probes run, results as plain data.
"""

from lab.probe.checks import ProbeResult, ProbeSettings
from lab.probe.runner import MEANING, PROBE_APP, PROBES, probe_server, replay_corpus

__all__ = ["MEANING", "PROBES", "PROBE_APP", "ProbeResult", "ProbeSettings", "probe_server", "replay_corpus"]
