"""Longer schemathesis run of the JSON API: the suite's test (tests/integration/test_fuzz_api.py) with more
examples and longer stateful runs, on a fresh home whose shipped models are prepared first. Last line: JSON.

Usage: PYTHONPATH=src:tests/integration python tests/stress/fuzz_api.py [max_examples] [stateful_steps]"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))  # test_fuzz_api, web_fixtures


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    home = Path(tempfile.mkdtemp(prefix="mn-fuzz-"))
    os.environ["MIRRORNEURON_HOME"] = str(home)
    from test_fuzz_api import fuzz, prepare

    from mirrorneuron.web import create_app
    from mirrorneuron.web.settings import WebSettings

    started = time.monotonic()
    app = prepare(create_app(WebSettings(database_url=f"sqlite:///{home / 'web.db'}", secret_key="fuzz", progression=False)))
    prepared = time.monotonic()
    tally = fuzz(app, max_examples=examples, stateful_steps=steps)
    for f in tally.failures[:50]:
        print(f)
    print(json.dumps({"max_examples": examples, "stateful_steps": steps, **tally.as_dict(),
                      "prepare_s": round(prepared - started, 1), "fuzz_s": round(time.monotonic() - prepared, 1),
                      "load_avg_1m": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
