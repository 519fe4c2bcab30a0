"""The lab's orchestration: options, processes, verification, load, results and reports.

Data flows one way: ``config`` (options) -> ``bench`` (plan and run each cell, with ``process``,
``verify``, ``sampler`` and ``locust_child``) -> ``results`` (one JSON document) -> ``report``.
"""
