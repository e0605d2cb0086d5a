"""Benchmarks of aiodurable against the official and the community Python SDKs.

Run ``python -m benchmarks.run --help``. Nothing here is imported by the library or its
tests; each SDK runs in its own virtualenv under ``benchmarks/.venvs/``.
"""
