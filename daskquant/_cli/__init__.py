"""The command line: parser, cluster connection, progress display, sample data."""

from daskquant._cli._main import main

__all__ = ["main"]
