from importlib import import_module

import pytest
from django.core.cache import cache
from django.core.management import call_command


@pytest.fixture(autouse=True)
def fresh_cache():
    """The API's throttling counts live in the cache: each test starts with a full budget."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Logins are created in many tests; the production hasher costs ~0.3 s each time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def idm_data(db):
    """The real 2005 IDM dataset, loaded with the project's own loader."""
    call_command("load_idm_data", verbosity=0)


@pytest.fixture(autouse=True)
def default_reminder_rules_and_schedule(request):
    """The rows a data migration installs (reminder rules, beat schedule), there for every test.

    A transactional test (``django_db(transaction=True)``, live servers, Celery workers) empties
    every table when it ends, those rows included; the tests after it in the same process would
    find no rule. The migration's own idempotent ``install`` puts them back where missing.
    """
    names = set(request.fixturenames)
    if "transactional_db" in names or "live_server" in names:
        request.getfixturevalue("transactional_db")
    elif "db" in names:
        request.getfixturevalue("db")
    elif request.node.get_closest_marker("django_db") is None:
        return  # no database access in this test
    from django.apps import apps

    migration = import_module("recommendations.migrations.0004_default_reminder_rules_and_schedule")
    if not apps.get_model("recommendations", "ReminderRule").objects.exists():
        migration.install(apps, None)
