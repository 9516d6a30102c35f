"""``mirrorneuron buildout …``: one module per command family, each adding its commands to ``buildout_app``."""

from mirrorneuron.cli_buildout import explain as _explain  # noqa: F401  buildout explain
from mirrorneuron.cli_buildout import imitate as _imitate  # noqa: F401  buildout imitate, imitations, check
from mirrorneuron.cli_buildout import module_view as _module_view  # noqa: F401  buildout module
from mirrorneuron.cli_buildout import modules as _modules  # noqa: F401  buildout modules
from mirrorneuron.cli_buildout import splice as _splice  # noqa: F401  buildout splice
from mirrorneuron.cli_buildout.app import buildout_app

__all__ = ["buildout_app"]
