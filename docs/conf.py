"""Sphinx configuration for the resdepth documentation."""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

# The performance page's tables come from the measurements file: render them first.
sys.path.insert(0, str(Path(__file__).parent))
from render_figures import write_docs  # noqa: E402

write_docs()

project = "resdepth"
author = "The resdepth developers"
copyright = "2026, The resdepth developers"
release = _version("resdepth")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
autosummary_generate = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_inherit_docstrings = False
nitpicky = False
exclude_patterns = ["_build", "_generated"]
html_theme = "furo"
html_title = "resdepth"
html_static_path = ["_static"]
