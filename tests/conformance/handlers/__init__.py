"""One durable handler per conformance requirement, written with the public API only.

Each module holds one suite; ``req_<suite>_<n>`` implements requirement ``<suite>-<n>``
as its YAML's ``handler``/``invocations`` text describes it. ``targets`` holds the
functions the invoke suite calls. ``tests/conformance/manifest.json`` maps ids to them.

Every handler logs into ``execution_logs.EXECUTION_LOGS`` (``logging=LOGS``, or
``LOGS_DURING_REPLAY`` where the requirement observes re-executed code), which files the
lines by execution as CloudWatch's filter does; suite 10's plugins write there too.
"""
