"""The package version: the one source hatchling builds from and the runtime reads."""

__version__ = "0.1.0"
