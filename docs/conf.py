"""Sphinx configuration of the unigen_jax API reference (`make docs`; docs/_build/html).

The pages are generated from the docstrings (autodoc, Google style through napoleon) and built
offline: no intersphinx, nothing fetched. `make test` builds them with warnings as errors
(`-W --keep-going`, nitpicky), so a cross-reference to a name that does not exist fails CI.
"""

import os
import sys

# The checkout's package, whichever `unigen_jax` is installed.
sys.path.insert(0, os.path.abspath(".."))

project = "unigen_jax"
author = "unigen_jax contributors"
copyright = "unigen_jax contributors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "myst_parser",
]

# `name` in a docstring is code (as in Markdown), not a cross-reference: the docstrings use it
# for expressions as well as names.
default_role = "literal"

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# Google-style docstrings; `Attributes:` as field lists of the class (the dataclass fields are
# not documented a second time as members).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
# Names the docstrings use bare, resolved to their definitions.
napoleon_type_aliases = {"UserInputError": "~unigen_jax.errors.UserInputError"}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
autosummary_generate = True

myst_heading_anchors = 3

# Nitpicky: every cross-reference must resolve, except to the libraries this project builds on,
# whose inventories would have to be downloaded (no intersphinx offline).
nitpicky = True
_EXTERNAL = (
    "jax", "jaxlib", "numpy", "np", "jnp", "flax", "nn", "optax", "orbax", "collections",
    "typing", "tensorflow_datasets", "tfds", "concurrent", "threading", "pathlib", "os", "io",
    "PIL", "scipy", "matplotlib",
)  # fmt: skip
nitpick_ignore_regex = [(r"py:.*", rf"({'|'.join(_EXTERNAL)})(\..*)?")]

html_theme = "sphinx_book_theme"
html_title = "unigen_jax"
html_theme_options = {"show_toc_level": 2}
