"""deploy/ and docs/deploy.md must work as written: every variable, option, path and command they name exists in
the app. Each check returns its problems, and a planted drift (a renamed option, an unknown variable, a lost
ordering) must produce one, so the checks can fail."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from mirrorneuron.cli import app as cli_app
from mirrorneuron.config import Settings
from mirrorneuron.web.settings import WebSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"
MIGRATE = "from mirrorneuron.web.serve import prepare; prepare()"


def texts() -> dict[str, str]:
    files = [*sorted(DEPLOY.rglob("*")), DOC]
    return {str(p.relative_to(ROOT)): p.read_text() for p in files if p.is_file()}


def env_problems(text: str) -> list[str]:
    """Every MIRRORNEURON_* name is a settings field (the app ignores unknown ones silently, so a typo is a
    setting that never applies)."""
    known = {f"MIRRORNEURON_{f.upper()}" for f in [*WebSettings.model_fields, *Settings.model_fields]}
    names = set(re.findall(r"\bMIRRORNEURON_[A-Z_]+\b", text))
    proxy_only = {"MIRRORNEURON_DOMAIN", "MIRRORNEURON_UPSTREAM", "MIRRORNEURON_WORKERS"}  # read by Caddy / compose
    return [f"unknown setting {n}" for n in sorted(names - known - proxy_only)]


def serve_lines(text: str) -> list[list[str]]:
    """Argument lists of every `mirrorneuron serve …` the text runs (shell lines and JSON-style exec arrays)."""
    out = []
    for m in re.finditer(r'\[("mirrorneuron", "serve"[^\]]*)\]', text):
        out.append([a.strip().strip('"') for a in m.group(1).split(",")][2:])
    for line in text.splitlines():
        shell = re.search(r"(?:^|/|\s)mirrorneuron serve ([^`#\n]*)", line)
        if shell and '"' not in shell.group(1):
            out.append(shlex.split(shell.group(1)))
    return out


def serve_problems(args: list[str]) -> list[str]:
    serve = typer.main.get_command(cli_app).commands["serve"]  # type: ignore[attr-defined]
    args = [re.sub(r"\$\{MIRRORNEURON_WORKERS:-(\d+)\}", r"\1", a) for a in args]
    try:
        serve.make_context("serve", list(args), resilient_parsing=False)
    except typer.TyperException as e:  # typer's base of its usage errors (e.g. no such option)
        return [f"serve {' '.join(args)}: {e.format_message()}"]
    return []


def compose_problems(compose: dict[str, Any]) -> list[str]:
    s = compose.get("services", {})
    problems = [f"no service {name}" for name in ("db", "migrate", "app", "proxy") if name not in s]
    if problems:
        return problems
    if s["app"].get("depends_on", {}).get("migrate", {}).get("condition") != "service_completed_successfully":
        problems.append("app does not wait for the migration to complete")
    if s["migrate"].get("command") != ["python", "-c", MIGRATE]:
        problems.append("migrate does not run the app's migration")
    if "/api/health" not in " ".join(s["app"].get("healthcheck", {}).get("test", [])):
        problems.append("app healthcheck does not ask /api/health")
    env = s["app"].get("environment", {})
    if not str(env.get("MIRRORNEURON_DATABASE_URL", "")).startswith("postgresql"):
        problems.append("app is not on Postgres")
    if str(env.get("MIRRORNEURON_COOKIE_SECURE")).lower() != "true":
        problems.append("cookies are not Secure behind HTTPS")
    return problems


def test_compose_matches_the_app() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose_problems(compose) == []
    planted = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    planted["services"]["app"]["depends_on"]["migrate"]["condition"] = "service_started"
    assert compose_problems(planted) == ["app does not wait for the migration to complete"]


def test_every_setting_named_exists() -> None:
    for name, text in texts().items():
        assert env_problems(text) == [], name
    assert env_problems("MIRRORNEURON_GUESS_RAT=5") == ["unknown setting MIRRORNEURON_GUESS_RAT"]


def test_every_serve_command_parses() -> None:
    found = 0
    for name, text in texts().items():
        for args in serve_lines(text):
            found += 1
            assert serve_problems(args) == [], name
    assert found >= 4  # Dockerfile, compose, systemd, docs
    assert serve_problems(["--port", "8000", "--worker", "2"])  # a renamed option is caught


def test_health_path_exists() -> None:
    from mirrorneuron.web.routers.health import router

    assert "/api/health" in {r.path for r in router.routes}  # type: ignore[attr-defined]
    for name, text in texts().items():
        for path in re.findall(r"127\.0\.0\.1:8000(/api/[a-z/]+)", text):
            assert path == "/api/health", name


def test_dockerfile_copies_what_exists_and_pins_like_the_project() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for src in line.split()[:-1]:
            assert (ROOT / src).exists(), src
    pin = re.search(r'"(torch[^"]+)"', text)
    assert pin and f'"{pin.group(1)}"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.slow
def test_migration_command_migrates(tmp_path: Path) -> None:
    """The one-shot service's command, run as written on a fresh database, brings it to the newest schema."""
    from mirrorneuron.store.db import current_revision, make_engine

    url = f"sqlite:///{tmp_path / 'd.db'}"
    env = {"MIRRORNEURON_DATABASE_URL": url, "MIRRORNEURON_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", MIGRATE], env={**env, "PYTHONPATH": str(ROOT / "src")}, check=True)
    from alembic.script import ScriptDirectory

    from mirrorneuron.store.db import alembic_config

    assert current_revision(make_engine(url)) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    for unit in (DEPLOY / "systemd").glob("*migrate*.service"):
        assert MIGRATE in unit.read_text()


def test_systemd_units_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    venv = str(Path(sys.executable).parent)
    for unit in (DEPLOY / "systemd").iterdir():  # the paths of a real install replaced by ones that exist here
        text = unit.read_text().replace("/opt/mirrorneuron/venv/bin", venv).replace("/usr/bin/caddy", "/bin/true")
        (tmp_path / unit.name).write_text(re.sub(r"^User=.*$", "User=root", text, flags=re.M))
    units = sorted(str(p) for p in tmp_path.iterdir())
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    app = (DEPLOY / "systemd" / "mirrorneuron.service").read_text()
    assert "Requires=mirrorneuron-migrate.service" in app and "After=mirrorneuron-migrate.service" in app
    broken = tmp_path / "mirrorneuron.service"
    broken.write_text(broken.read_text().replace("ExecStart=", "ExecStrat="))
    r = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True)
    assert r.returncode != 0 or r.stderr.strip()  # the verifier does flag a broken unit
