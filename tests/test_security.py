"""Security of the web front: headers, locked-out sign-ins, the admin's second factor."""

import base64
import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories.stakeholders import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "password"  # the factory's


def _staff(**kwargs):
    return UserFactory(is_staff=True, is_superuser=True, **kwargs)


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


# --- Headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/login/", "/api/v1/meetings/"])
def test_every_page_and_the_api_carry_the_security_headers(client, path):
    response = client.get(path)

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


# --- Lockout after repeated failures ----------------------------------------------------------


def _portal_login(client, username, password, address="203.0.113.5"):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_portal_locks_an_account_out_from_an_address_after_repeated_failures(client):
    user = UserFactory()
    for _ in range(2):
        assert _portal_login(client, user.username, "wrong").status_code == 200
    assert _portal_login(client, user.username, "wrong").status_code == 429

    locked = _portal_login(client, user.username, PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert int(locked["Retry-After"]) == 30 * 60
    assert "_auth_user_id" not in client.session
    # The same account from another address is not locked out.
    assert _portal_login(client, user.username, PASSWORD, address="198.51.100.7").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_lockout_ends_after_the_cool_off_time(client):
    user = UserFactory()
    for _ in range(3):
        _portal_login(client, user.username, "wrong")
    assert _portal_login(client, user.username, PASSWORD).status_code == 429

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=31)):
        assert _portal_login(client, user.username, PASSWORD).status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_successful_sign_in_resets_the_count_of_failures(client):
    user = UserFactory()
    for _ in range(2):
        _portal_login(client, user.username, "wrong")
    assert _portal_login(client, user.username, PASSWORD).status_code == 302
    client.logout()

    for _ in range(2):
        _portal_login(client, user.username, "wrong")

    assert _portal_login(client, user.username, PASSWORD).status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_admin_sign_in_locks_out_too(client):
    staff = _staff()
    wrong = {"username": staff.username, "password": "wrong"}
    for _ in range(3):
        client.post("/admin/login/", wrong, REMOTE_ADDR="1.2.3.4")

    right = {"username": staff.username, "password": PASSWORD}
    response = client.post("/admin/login/", right, REMOTE_ADDR="1.2.3.4")

    assert response.status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_api_basic_auth_locks_out_with_the_apis_error_shape(client):
    user = UserFactory()

    def call(password):
        token = base64.b64encode(f"{user.username}:{password}".encode()).decode()
        return client.get(
            "/api/v1/recommendations/?mine=true",
            HTTP_AUTHORIZATION=f"Basic {token}",
            REMOTE_ADDR="192.0.2.9",
        )

    for _ in range(2):
        assert call("wrong").status_code == 401
    assert call("wrong").status_code == 429

    response = call(PASSWORD)

    assert response.status_code == 429
    body = response.json()
    assert body["status"] == 429
    assert body["code"] == "locked_out"
    assert "Too many failed sign-ins" in body["message"]
    assert response["Retry-After"] == str(30 * 60)


# --- The admin's second factor ----------------------------------------------------------------


def _admin_login(client, user, code=None):
    data = {"username": user.username, "password": PASSWORD}
    if code is not None:
        data["otp_token"] = code
    return client.post("/admin/login/?next=/admin/", data)


def test_an_account_with_an_authenticator_must_give_its_code(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no waiting after the wrong code, for the test
    staff = _staff()
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)

    without = _admin_login(client, staff)
    assert without.status_code == 200
    assert "otp_token" in without.context["form"].fields
    assert without.context["form"].errors
    assert client.get("/admin/").status_code == 302

    wrong = _admin_login(client, staff, code="000000" if _code(device) != "000000" else "111111")
    assert wrong.status_code == 200
    assert client.get("/admin/").status_code == 302

    right = _admin_login(client, staff, code=_code(device))
    assert right.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_without_the_requirement_an_account_without_authenticator_signs_in_with_a_password(
    client, settings
):
    settings.ADMIN_REQUIRE_2FA = False
    staff = _staff()

    assert _admin_login(client, staff).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_when_required_an_account_without_authenticator_cannot_use_the_admin(client, settings):
    settings.ADMIN_REQUIRE_2FA = True
    staff = _staff()

    response = _admin_login(client, staff)

    assert response.status_code == 200
    assert "has no authenticator yet" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_a_portal_sign_in_does_not_open_the_admin_to_an_account_that_needs_a_code(client):
    staff = _staff()
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)

    assert _portal_login(client, staff.username, PASSWORD).status_code == 302

    assert client.get("/admin/").status_code == 302


def test_otp_enroll_gives_a_staff_account_an_authenticator():
    staff = _staff()
    out = io.StringIO()

    call_command("otp_enroll", staff.username, "--no-qr", stdout=out)

    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed
    assert out.getvalue().strip().splitlines()[-1].startswith("otpauth://totp/")
    with pytest.raises(CommandError, match="already has an authenticator"):
        call_command("otp_enroll", staff.username, "--no-qr", stdout=io.StringIO())
    call_command("otp_enroll", staff.username, "--no-qr", "--replace", stdout=io.StringIO())
    assert TOTPDevice.objects.filter(user=staff).count() == 1
    assert TOTPDevice.objects.get(user=staff).pk != device.pk


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: "nobody", "No account has the user name nobody"),
        (lambda: UserFactory().username, "is not a staff account"),
    ],
)
def test_otp_enroll_refuses_unknown_and_non_staff_accounts(make, message):
    with pytest.raises(CommandError, match=message):
        call_command("otp_enroll", make(), "--no-qr", stdout=io.StringIO())
