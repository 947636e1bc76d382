"""Production settings: refuse to start half-configured; pass Django's deployment checklist with nothing to report."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
    "DJANGO_ALLOWED_HOSTS": "register.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://register.example.org",
}


def manage(*args, **env):
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_value(expression, **env):
    """``expression``, over ``s`` (the settings), in a fresh process configured by ``env`` alone; JSON-decoded."""
    script = (
        f"import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({expression}))"
    )
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_reports_nothing_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_catches_a_weak_secret_key():
    """The check above can fail: a short key is reported (so the test is not vacuous)."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "DJANGO_SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert f"{missing} must be set when DJANGO_DEBUG is off" in result.stderr


def test_debug_defaults_start_without_any_configuration():
    result = manage("check")
    assert result.returncode == 0, result.stderr


def test_production_turns_on_secure_transport_and_second_factor():
    expression = (
        "[s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_PROXY_SSL_HEADER, s.ADMIN_REQUIRE_2FA]"
    )
    assert settings_value(expression, **PRODUCTION) == [
        True,
        True,
        True,
        True,
        ["HTTP_X_FORWARDED_PROTO", "https"],
        True,
    ]


def test_postgresql_connections_run_without_jit_and_plan_once_on_the_primary_and_the_replica():
    """JIT compilation cost the change feed 0.5 s a table, and planning each prepared statement again at its
    first five runs on a connection put a new connection's first group pages 20-50 ms above the rest; the
    replica runs the same public reads."""
    options = settings_value(
        "{alias: db.get('OPTIONS', {}).get('options') for alias, db in s.DATABASES.items()}",
        DATABASE_URL="postgres://registry:secret@db.example.org:5432/registry",
        DATABASE_REPLICA_URL="postgres://registry:secret@replica.example.org:5432/registry",
    )
    expected = "-c jit=off -c plan_cache_mode=force_generic_plan"
    assert options == {"default": expected, "replica": expected}


class RecordingEnviron(dict):
    """An environment that notes every variable name read from it."""

    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def setdefault(self, key, default=None):
        self.read.add(key)
        return super().setdefault(key, default)


def variables_read(path, monkeypatch, **env):
    """The names of the environment variables that executing ``path`` reads, under ``env`` alone."""
    import runpy

    environ = RecordingEnviron(env)
    with monkeypatch.context() as patch:
        patch.setattr(os, "environ", environ)
        runpy.run_path(str(ROOT / path))
    return environ.read


def documented_variables():
    """The variable names in the first column of README's configuration table."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split(" | ", 1)[0]))
    return names


def test_every_environment_variable_the_server_reads_is_in_the_readme(monkeypatch):
    """An operator configures the register from README's table: a variable missing there is a setting nobody
    can find. The settings and gunicorn's configuration are where the variables are read (read each way:
    development, production, with the optional replica and throttle)."""
    read = set()
    for env in (
        {},
        {**PRODUCTION},
        {**PRODUCTION, "DATABASE_REPLICA_URL": "sqlite:///replica.sqlite3", "DJANGO_API_THROTTLE": "120/minute"},
    ):
        read |= variables_read("config/settings.py", monkeypatch, **env)
        read |= variables_read("config/gunicorn.conf.py", monkeypatch, **env)

    assert {"DJANGO_DEBUG", "GUNICORN_WORKERS", "REGISTRY_RELEASE", "DJANGO_WARM_UP"} <= read
    assert read - documented_variables() == set()
