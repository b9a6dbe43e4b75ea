"""Sphinx configuration for the xrdsynth documentation (built with ``make test`` or ``make docs``)."""

from __future__ import annotations

import xrdsynth

project = "xrdsynth"
author = "xrdsynth developers"
copyright = "xrdsynth developers"
version = release = xrdsynth.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
# No sphinx.ext.intersphinx: the build must not need the network.

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Docstrings are Google style.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

myst_heading_anchors = 3

html_theme = "furo"
html_title = f"xrdsynth {release}"


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    """Skip the generated "Alias for field number k" properties of NamedTuples: their fields are already
    documented, with shapes and units, in the class docstring's Attributes section."""
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
