"""What the mail backend can tell about a message already handed to it (config.mail)."""

import datetime as dt
import os

import pytest
from django.core.mail import EmailMessage

from config.mail import message_delivered, messages_delivered


@pytest.fixture
def file_mail(settings, tmp_path):
    """The file mail backend, writing into a folder of the test's own."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    return tmp_path


def _send(message_id: str) -> None:
    EmailMessage(
        "Subject",
        "Body",
        "idm@localhost",
        ["focal@agency.example.org"],
        headers={"Message-ID": message_id},
    ).send()


def test_the_file_backend_finds_a_message_by_its_message_id(file_mail):
    assert message_delivered("<reminder-1.event@idm.example.org>") is False

    _send("<reminder-1.event@idm.example.org>")
    _send("<reminder-2.event@idm.example.org>")

    assert message_delivered("<reminder-1.event@idm.example.org>") is True
    assert message_delivered("<reminder-2.event@idm.example.org>") is True
    assert message_delivered("<reminder-3.event@idm.example.org>") is False


def test_a_message_cut_off_while_being_written_is_not_delivered(file_mail):
    """A worker killed while the file backend wrote: the headers are there, not the end."""
    _send("<reminder-10.followup_due@idm.example.org>")
    [written] = file_mail.glob("*.log")
    whole = written.read_bytes()
    written.write_bytes(whole[: whole.index(b"Body")])

    assert message_delivered("<reminder-10.followup_due@idm.example.org>") is False
    written.write_bytes(whole)
    assert message_delivered("<reminder-10.followup_due@idm.example.org>") is True


def test_several_message_ids_are_looked_up_in_one_pass(file_mail):
    _send("<decision-1.1.1@idm.example.org>")
    _send("<decision-1.1.3@idm.example.org>")

    assert messages_delivered(
        [
            "<decision-1.1.1@idm.example.org>",
            "<decision-1.1.2@idm.example.org>",
            "<decision-1.1.3@idm.example.org>",
        ]
    ) == {"<decision-1.1.1@idm.example.org>", "<decision-1.1.3@idm.example.org>"}
    # A Message-ID that another one begins with is not taken for it.
    assert message_delivered("<decision-1.1.1@idm.example.org") is False


def test_the_memory_backend_answers_and_smtp_cannot_tell(settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _send("<reminder-5.event@idm.example.org>")
    assert message_delivered("<reminder-5.event@idm.example.org>") is True
    assert message_delivered("<reminder-6.event@idm.example.org>") is False

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert message_delivered("<reminder-5.event@idm.example.org>") is None


def test_the_file_backend_reads_only_the_files_written_since(file_mail):
    _send("<reminder-7.event@idm.example.org>")
    [written] = file_mail.glob("*.log")
    now = dt.datetime.now(dt.UTC)
    os.utime(written, (now.timestamp() - 3600, now.timestamp() - 3600))

    assert message_delivered("<reminder-7.event@idm.example.org>", since=now) is False
    assert (
        message_delivered("<reminder-7.event@idm.example.org>", since=now - dt.timedelta(hours=2))
        is True
    )
