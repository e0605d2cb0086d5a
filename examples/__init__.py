"""Runnable aiodurable workflows.

Each module defines a ``@durable_execution`` handler named ``handler``; run one on the
local backend with ``aiodurable run examples.<module>:handler --input '<json>'``.
"""
