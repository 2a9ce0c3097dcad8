"""The settings, as a fresh process reads them from the environment.

Each test starts ``manage.py`` or ``python -c`` in a subprocess with an environment of its own, so
that the settings of the running test process are never touched.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_SECRET_KEY = "test-only-" + "x" * 60

# What a developer's environment or CI may set and the tests below need unset.
SETTINGS_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "TIME_ZONE",
    "VAR_DIR",
    "MEDIA_ROOT",
)


def _dotenv_names() -> set[str]:
    """The names a local ``.env`` defines; the settings fall back to them when unset."""
    dotenv = PROJECT_ROOT / ".env"
    if not dotenv.is_file():
        return set()
    names = set()
    for line in dotenv.read_text().splitlines():
        line = line.strip().removeprefix("export ").strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def _environment(**changes: str | None) -> dict[str, str]:
    """A copy of this process's environment; a ``None`` value removes the variable."""
    absent = {name for name, value in changes.items() if value is None}
    shadowed = absent & _dotenv_names()
    if shadowed:
        pytest.skip(f"the local .env sets {', '.join(sorted(shadowed))}")
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _clean_environment(**changes: str | None) -> dict[str, str]:
    """Like ``_environment``, starting with every settings variable unset."""
    return _environment(**{**dict.fromkeys(SETTINGS_VARIABLES), **changes})


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py, fixed arguments
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _manage_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return _run(["manage.py", "check"], env)


@pytest.mark.parametrize("missing", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_production_without_secret_key_stops_with_one_line(missing):
    env = _environment(DEBUG="false", SECRET_KEY=missing, ALLOWED_HOSTS="idm.example.org")

    result = _manage_check(env)

    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Configuration error:")
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("missing", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_production_without_allowed_hosts_stops_with_one_line(missing):
    env = _environment(DEBUG="false", SECRET_KEY=PRODUCTION_SECRET_KEY, ALLOWED_HOSTS=missing)

    result = _manage_check(env)

    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Configuration error:")
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_with_secret_key_and_allowed_hosts_passes_the_checks():
    env = _environment(
        DEBUG="false", SECRET_KEY=PRODUCTION_SECRET_KEY, ALLOWED_HOSTS="idm.example.org"
    )

    result = _manage_check(env)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_settings_pass_the_deployment_checks_without_a_warning():
    env = _environment(
        DEBUG="false",
        SECRET_KEY=PRODUCTION_SECRET_KEY,
        ALLOWED_HOSTS="idm.example.org",
        DJANGO_ALLOW_ASYNC_UNSAFE=None,  # set by the browser tests for their own process only
    )

    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


PRINT_SETTINGS = """
import json
import django
from django.conf import settings

django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "NAME": str(settings.DATABASES["default"]["NAME"]),
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "TIME_ZONE": settings.TIME_ZONE,
    "USE_TZ": settings.USE_TZ,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
}))
"""


def _settings_of(env: dict[str, str]) -> dict:
    result = _run(["-c", PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_need_no_setup():
    env = _clean_environment()

    values = _settings_of(env)

    assert values["DEBUG"] is True
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(values["NAME"]) == PROJECT_ROOT / "var" / "db.sqlite3"
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    assert values["TIME_ZONE"] == "Europe/Zurich"
    assert values["USE_TZ"] is True


def test_database_url_and_broker_url_come_from_the_environment():
    env = _clean_environment(
        DATABASE_URL="postgres://idm:secret@db.example.org:5432/idm",
        CELERY_BROKER_URL="redis://redis.example.org:6379/0",
        TIME_ZONE="UTC",
    )

    values = _settings_of(env)

    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["NAME"] == "idm"
    assert values["CELERY_BROKER_URL"] == "redis://redis.example.org:6379/0"
    assert values["TIME_ZONE"] == "UTC"


def test_allowed_hosts_is_a_comma_separated_list():
    env = _clean_environment(
        DEBUG="false",
        SECRET_KEY=PRODUCTION_SECRET_KEY,
        ALLOWED_HOSTS="idm.example.org,localhost",
    )

    assert _settings_of(env)["ALLOWED_HOSTS"] == ["idm.example.org", "localhost"]
