import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from stakeholders.enums import ActingRole
from stakeholders.models import Organisation

User = get_user_model()


@pytest.fixture
def demo(db, capsys):
    call_command("demo", "--setup-only")
    return capsys.readouterr().out


def test_demo_setup_prints_one_login_per_role(demo):
    assert "secretariat  idm-demo-secretariat" in demo
    assert "delegate     idm-demo-delegate" in demo
    assert "agency       idm-demo-agency" in demo
    assert Organisation.objects.count() == 241


def test_demo_logins_act_for_their_organisations(demo):
    roles = {
        user.username: (user.representative.role, user.representative.organisation.name)
        for user in User.objects.select_related("representative__organisation")
    }
    assert roles == {
        "secretariat": (ActingRole.SECRETARIAT, "IOM Administration"),
        "delegate": (ActingRole.DELEGATION, "Philippines"),
        "agency": (ActingRole.AGENCY, "International Labour Organization"),
    }


def test_demo_secretariat_officer_reaches_the_admin_and_the_delegate_does_not(demo, client):
    assert client.login(username="secretariat", password="idm-demo-secretariat")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/idm/councilsession/").status_code == 200
    client.logout()
    assert client.login(username="delegate", password="idm-demo-delegate")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_demo_run_again_keeps_data_and_changed_passwords(demo, capsys):
    officer = User.objects.get(username="secretariat")
    officer.set_password("a-new-password-chosen-by-the-officer")
    officer.save()
    call_command("demo", "--setup-only")
    out = capsys.readouterr().out
    assert "IDM dataset: 0 new records." in out
    assert "(kept from an earlier run)" in out
    assert User.objects.count() == 3
    officer.refresh_from_db()
    assert officer.check_password("a-new-password-chosen-by-the-officer")


def test_demo_refuses_a_port_out_of_range(db):
    with pytest.raises(CommandError, match="--port must be between 1 and 65535"):
        call_command("demo", "--port", "70000")
