"""The ``resdepth`` command: one module per command group, each turning arguments into
library calls; :func:`main` turns library errors into one line and an exit status."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
