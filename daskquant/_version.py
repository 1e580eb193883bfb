"""The package version, in one place (the store records it; the CLI prints it)."""

__version__ = "0.1.0"
