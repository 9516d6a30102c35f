"""``mirrorneuron buildout …``: one module per command family, each adding its commands to ``buildout_app``."""

from mirrorneuron.cli_buildout import imitate as _imitate  # noqa: F401  (registers imitate, imitations, check)
from mirrorneuron.cli_buildout.app import buildout_app

__all__ = ["buildout_app"]
