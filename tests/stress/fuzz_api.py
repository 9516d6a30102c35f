"""Longer schemathesis run of the JSON API (fuzz_api_lib.py's test, out of the suite until it passes with more examples). Last line: JSON counts.

Usage: PYTHONPATH=src:tests/integration python tests/stress/fuzz_api.py [max_examples]"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))  # web_fixtures
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    home = Path(tempfile.mkdtemp(prefix="mn-fuzz-"))
    os.environ["MIRRORNEURON_HOME"] = str(home)
    from fuzz_api_lib import fuzz

    from mirrorneuron.web import create_app
    from mirrorneuron.web.settings import WebSettings

    app = create_app(WebSettings(database_url=f"sqlite:///{home / 'web.db'}", secret_key="fuzz", progression=False))
    tally = fuzz(app, max_examples=examples, stateful_steps=40)
    for f in tally.failures[:50]:
        print(f)
    print(json.dumps({"max_examples": examples, **tally.as_dict()}))


if __name__ == "__main__":
    main()
