"""``mirrorneuron buildout …``: one module per command family, each adding its commands to ``buildout_app``."""

from mirrorneuron.cli_buildout import modules as _modules  # noqa: F401  (buildout modules)
from mirrorneuron.cli_buildout.app import buildout_app

__all__ = ["buildout_app"]
