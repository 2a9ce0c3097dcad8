"""docker-compose.yml and config/settings.py must agree on the environment.

A variable that compose sets and the settings never read is a typo or a leftover, and silently does
nothing. Docker is not needed: the compose file is read as YAML, the settings as source text.
"""

import re
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
SETTINGS_FILE = PROJECT_ROOT / "config" / "settings.py"

APPLICATION_SERVICES = {"web", "worker", "beat"}
# postgres and redis run their images' own programs: their variables (POSTGRES_DB, POSTGRES_USER,
# POSTGRES_PASSWORD) configure those images and never reach Django, so they are checked against
# the prefixes each image documents instead of against the settings.
BACKING_SERVICES = {"postgres": ("POSTGRES_",), "redis": ()}

_NAME = r"""(?P<quote>["'])(?P<name>[A-Z][A-Z0-9_]*)(?P=quote)"""
SETTINGS_READ_PATTERNS = (
    # env("NAME"), env.str("NAME", ...), env.db_url(\n "NAME"), environ.Env().str("NAME")
    re.compile(rf"\b(?:env|Env\(\))\s*(?:\.\s*[a-z_]+\s*)?\(\s*{_NAME}"),
    # "NAME" in env.ENVIRON, "NAME" in os.environ
    re.compile(rf"{_NAME}\s+in\s+(?:env\.ENVIRON|os\.environ)\b"),
    # env.ENVIRON["NAME"], env.ENVIRON.get("NAME"), os.environ[...], os.environ.get(...)
    re.compile(rf"\b(?:env\.ENVIRON|os\.environ)\s*(?:\[|\.\s*get\s*\()\s*{_NAME}"),
    re.compile(rf"\bos\.getenv\s*\(\s*{_NAME}"),
    # _required_in_production("NAME", default)
    re.compile(rf"\b_required_in_production\s*\(\s*{_NAME}"),
)


def names_read_by(source: str) -> set[str]:
    """The environment variable names a settings module's source reads."""
    return {
        match.group("name")
        for pattern in SETTINGS_READ_PATTERNS
        for match in pattern.finditer(source)
    }


def environment_of(service: dict) -> dict[str, str | None]:
    """A service's ``environment``, in either of compose's forms (mapping or KEY=value list)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) for item in environment)
        return {pair[0]: (pair[1] if len(pair) == 2 else None) for pair in pairs}
    return dict(environment)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def settings_names() -> set[str]:
    return names_read_by(SETTINGS_FILE.read_text())


def test_scanner_finds_every_form_the_settings_use():
    source = """
VAR_DIR = Path(environ.Env().str("VAR_DIR", default="var"))
DEBUG = env.bool("DEBUG", default=True)
X = env('PLAIN_CALL')
DATABASES = {"default": env.db_url(
    "DATABASE_URL",
    default="sqlite://",
)}
if "SECRET_KEY" in env.ENVIRON and env.str("SECRET_KEY").strip():
    pass
ALLOWED_HOSTS = _required_in_production("ALLOWED_HOSTS", [])
TZ = os.environ.get("TZ_NAME")
name = "NOT_A_VARIABLE"
"""
    assert names_read_by(source) == {
        "VAR_DIR",
        "DEBUG",
        "PLAIN_CALL",
        "DATABASE_URL",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "TZ_NAME",
    }


def test_scanner_sees_the_variables_the_settings_are_known_to_read(settings_names):
    # Guards the scanner itself: if it matched nothing, every other test here would pass vacuously.
    assert {
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "EMAIL_URL",
        "TIME_ZONE",
        "VAR_DIR",
        "MEDIA_ROOT",
    } <= settings_names


def test_compose_has_the_expected_services(compose):
    assert set(compose["services"]) == APPLICATION_SERVICES | set(BACKING_SERVICES)


def test_every_variable_an_application_service_sets_is_read_by_the_settings(
    compose, settings_names
):
    unknown = {
        name: sorted(set(environment_of(compose["services"][name])) - settings_names)
        for name in APPLICATION_SERVICES
    }
    assert unknown == dict.fromkeys(APPLICATION_SERVICES, [])


def test_the_shared_environment_sets_only_what_the_settings_read(compose, settings_names):
    assert set(compose["x-environment"]) - settings_names == set()


@pytest.mark.parametrize("service", sorted(APPLICATION_SERVICES))
def test_every_application_service_uses_the_shared_environment(compose, service):
    shared = compose["x-environment"]
    environment = environment_of(compose["services"][service])

    assert {name: environment.get(name) for name in shared} == shared


@pytest.mark.parametrize("service", sorted(BACKING_SERVICES))
def test_backing_services_set_only_their_images_variables(compose, service):
    prefixes = BACKING_SERVICES[service]
    environment = environment_of(compose["services"][service])

    assert [name for name in environment if not name.startswith(prefixes)] == []


def test_the_shared_environment_is_a_production_configuration(compose):
    shared = compose["x-environment"]

    assert shared["DEBUG"] == "false"
    assert shared["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert shared["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in shared["DATABASE_URL"]
    assert shared["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert shared["SECURE_SSL_REDIRECT"] == "false"
    for name in ("ALLOWED_HOSTS", "EMAIL_URL", "TIME_ZONE", "VAR_DIR", "MEDIA_ROOT"):
        assert shared.get(name), f"{name} is not set"


def test_the_web_healthcheck_calls_healthz_on_an_allowed_host(compose):
    healthcheck = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    allowed_hosts = compose["x-environment"]["ALLOWED_HOSTS"]

    assert "http://localhost:8000/healthz" in healthcheck
    default_hosts = re.fullmatch(r"\$\{ALLOWED_HOSTS:-(?P<hosts>[^}]*)\}", allowed_hosts)
    hosts = default_hosts.group("hosts") if default_hosts else allowed_hosts
    assert "localhost" in hosts.split(",")


@pytest.mark.parametrize("service", ["postgres", "redis", "web"])
def test_services_others_wait_for_have_a_healthcheck(compose, service):
    assert compose["services"][service]["healthcheck"]["test"]


@pytest.mark.parametrize(
    ("service", "command"),
    [("worker", "celery -A config worker"), ("beat", "celery -A config beat")],
)
def test_celery_services_run_the_project_app(compose, service, command):
    assert " ".join(compose["services"][service]["command"]).startswith(command)
