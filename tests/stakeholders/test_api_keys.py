import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from stakeholders.enums import ActingRole, OrganisationKind
from stakeholders.models import OrganisationAPIKey, Representative
from tests.factories.stakeholders import OrganisationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/assignments/"


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ilo():
    return OrganisationFactory(
        name="International Labour Organization",
        acronym="ILO",
        kind=OrganisationKind.UN_AGENCY,
        dataset_id="org-ilo",
    )


def create_key(*args, **options) -> tuple[str, str]:
    out = io.StringIO()
    call_command("create_api_key", *args, stdout=out, **options)
    return out.getvalue(), out.getvalue().rstrip("\n").splitlines()[-1]


def get(key: str | None = None, header: str | None = None, url: str = URL):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get(url)


def assert_401(response, message: str | None = None):
    assert response.status_code == 401, response.content
    assert response.headers["WWW-Authenticate"] == 'Api-Key realm="api"'
    body = response.json()
    assert body["status"] == 401
    assert body["code"] in {"authentication_failed", "not_authenticated"}
    if message:
        assert message in body["message"]


# -- create_api_key -------------------------------------------------------------------------------


def test_create_api_key_prints_the_key_alone_on_its_last_line(ilo):
    output, key = create_key("--organisation", "ILO", "--name", "ILO tracker")
    assert re.fullmatch(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]+", key)
    assert "ILO" in output.splitlines()[0]
    api_key = OrganisationAPIKey.objects.get()
    assert (api_key.organisation, api_key.name, api_key.role) == (ilo, "ILO tracker", "agency")
    assert api_key.prefix == key.split(".")[0]
    # Stored hashed: the key itself is nowhere in the row.
    assert key not in api_key.hashed_key and key.split(".")[1] not in api_key.id
    assert get(key).status_code == 200


def test_the_key_acts_as_a_service_login_of_its_organisation(ilo):
    _output, key = create_key(organisation="ILO", name="tracker")
    api_key = OrganisationAPIKey.objects.select_related("user").get()
    user = api_key.user
    assert user.is_active and not user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert Representative.objects.get(user=user).organisation == ilo
    assert Representative.objects.get(user=user).role == ActingRole.AGENCY
    assert not APIClient().login(username=user.username, password="")


def test_a_member_state_key_acts_as_its_delegation():
    OrganisationFactory(name="Philippines", acronym="PHL", kind=OrganisationKind.MEMBER_STATE)
    create_key(organisation="PHL", name="mission")
    assert OrganisationAPIKey.objects.get().role == ActingRole.DELEGATION
    assert Representative.objects.get(user__api_key__isnull=False).role == ActingRole.DELEGATION


def test_the_role_can_be_chosen(ilo):
    create_key(organisation="ILO", name="as a delegation", role="delegation")
    assert OrganisationAPIKey.objects.get().role == ActingRole.DELEGATION


def test_unknown_acronym_is_one_readable_error():
    with pytest.raises(CommandError, match="^No organisation has the acronym or dataset id XYZ"):
        create_key(organisation="XYZ", name="x")
    assert not OrganisationAPIKey.objects.exists()


def test_a_shared_acronym_lists_the_dataset_ids_and_a_dataset_id_picks_one():
    OrganisationFactory(
        name="Geneva Migration Group", acronym="GMG", dataset_id="org-geneva-migration-group"
    )
    global_group = OrganisationFactory(
        name="Global Migration Group", acronym="GMG", dataset_id="org-global-migration-group"
    )
    with pytest.raises(CommandError) as refused:
        create_key(organisation="GMG", name="x")
    message = str(refused.value)
    assert "\n" not in message
    assert "org-geneva-migration-group" in message and "org-global-migration-group" in message
    assert not OrganisationAPIKey.objects.exists()
    create_key(organisation="org-global-migration-group", name="x")
    assert OrganisationAPIKey.objects.get().organisation == global_group


def test_an_acronym_matches_regardless_of_case(ilo):
    create_key(organisation="ilo", name="x")
    assert OrganisationAPIKey.objects.get().organisation == ilo


def test_expires_is_the_last_day_the_key_works(ilo):
    day = timezone.localdate() + dt.timedelta(days=30)
    create_key(organisation="ILO", name="x", expires=day.isoformat())
    expiry = timezone.localtime(OrganisationAPIKey.objects.get().expiry_date)
    assert (expiry.date(), expiry.time()) == (day + dt.timedelta(days=1), dt.time.min)


@pytest.mark.parametrize("value", ["2001-01-01", "31/12/2099", "soon"])
def test_expires_must_be_a_date_not_past(ilo, value):
    with pytest.raises(CommandError, match="--expires"):
        create_key(organisation="ILO", name="x", expires=value)


def test_name_is_required_and_short(ilo):
    with pytest.raises(CommandError):
        create_key(organisation="ILO", name="  ")
    with pytest.raises(CommandError, match="at most 50"):
        create_key(organisation="ILO", name="x" * 51)


# -- Authentication -------------------------------------------------------------------------------


def test_a_revoked_key_is_401(ilo):
    _output, key = create_key(organisation="ILO", name="x")
    api_key = OrganisationAPIKey.objects.get()
    api_key.revoked = True
    api_key.save()
    assert_401(get(key), "revoked")
    api_key.user.refresh_from_db()
    assert not api_key.user.is_active


def test_an_expired_key_is_401(ilo):
    _output, key = create_key(organisation="ILO", name="x")
    OrganisationAPIKey.objects.update(expiry_date=timezone.now() - dt.timedelta(seconds=1))
    assert_401(get(key), "expired")


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key",
        "Api-Key a b",
        "Api-Key nodot",
        "Api-Key unknown1.secret",
        "api-key WRONGKEY.x",
    ],
)
def test_a_bad_key_is_401(ilo, header):
    create_key(organisation="ILO", name="x")
    assert_401(get(header=header))


def test_a_wrong_secret_with_a_real_prefix_is_401(ilo):
    _output, key = create_key(organisation="ILO", name="x")
    prefix = key.split(".")[0]
    assert_401(get(header=f"Api-Key {prefix}.not-the-secret"), "not valid")


def test_no_credentials_is_401_with_the_api_key_challenge():
    assert_401(get())


def test_other_schemes_are_left_to_the_other_authentications(ilo):
    # Basic with a wrong password: refused by BasicAuthentication, not taken for a key.
    response = get(header="Basic dXNlcjp3cm9uZw==")
    assert response.status_code == 401


def test_last_used_at_is_recorded_at_most_once_a_minute(ilo, django_assert_num_queries):
    _output, key = create_key(organisation="ILO", name="x")
    assert OrganisationAPIKey.objects.get().last_used_at is None
    assert get(key).status_code == 200
    first = OrganisationAPIKey.objects.get().last_used_at
    assert first is not None and timezone.now() - first < dt.timedelta(seconds=10)
    assert get(key).status_code == 200
    assert OrganisationAPIKey.objects.get().last_used_at == first
    OrganisationAPIKey.objects.update(last_used_at=first - dt.timedelta(minutes=2))
    assert get(key).status_code == 200
    assert OrganisationAPIKey.objects.get().last_used_at > first - dt.timedelta(seconds=1)


def test_last_used_at_is_not_in_the_history(ilo):
    _output, key = create_key(organisation="ILO", name="x")
    api_key = OrganisationAPIKey.objects.get()
    count = api_key.history.count()
    get(key)
    assert api_key.history.count() == count


# -- Admin ----------------------------------------------------------------------------------------


def test_admin_shows_a_new_key_once_and_stores_its_hash(admin_client, ilo):
    response = admin_client.post(
        reverse("admin:stakeholders_organisationapikey_add"),
        {"name": "From the admin", "organisation": ilo.pk, "role": "", "expiry_date_0": ""},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    shown = [m for m in messages if "store it now" in m]
    assert len(shown) == 1, messages
    key = re.search(r"is: (\S+\.\S+) —", shown[0]).group(1)
    api_key = OrganisationAPIKey.objects.get()
    assert api_key.prefix == key.split(".")[0] and api_key.role == "agency"
    assert get(key).status_code == 200
    change = admin_client.get(
        reverse("admin:stakeholders_organisationapikey_change", args=[api_key.pk])
    )
    assert key not in change.content.decode()


def test_admin_revokes_keys(admin_client, ilo):
    _output, key = create_key(organisation="ILO", name="x")
    api_key = OrganisationAPIKey.objects.get()
    response = admin_client.post(
        reverse("admin:stakeholders_organisationapikey_changelist"),
        {"action": "revoke", "_selected_action": [api_key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.revoked
    assert_401(get(key), "revoked")
    assert not get_user_model().objects.get(pk=api_key.user_id).is_active
    assert api_key.history.filter(revoked=True).exists()
    change = admin_client.get(
        reverse("admin:stakeholders_organisationapikey_change", args=[api_key.pk])
    )
    assert change.status_code == 200
    assert not change.context["adminform"].form.fields  # a revoked key no longer changes
