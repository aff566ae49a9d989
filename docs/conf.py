"""Sphinx configuration for ironframe_py."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "ironframe_py"
author = "ironframe_py developers"
release = "0.1.0"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
