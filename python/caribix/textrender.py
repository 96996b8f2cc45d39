"""The Jinja environment the controller library renders configuration
text with (vendor switch configs, a new site's files): an undefined name
is an error, never an empty string, and blocks leave no stray blank lines
(as Ansible's template module does)."""
from __future__ import annotations

from pathlib import Path

import jinja2


def text_environment(directory: str | Path) -> jinja2.Environment:
    """A strict environment that loads the templates of ``directory``."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # configuration text, not HTML
    )
