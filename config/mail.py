"""What the configured mail backend can tell about messages already handed to it.

A worker that dies after the mail server accepted a message but before it recorded the fact leaves
the sender in doubt. ``messages_delivered`` asks the backend: the file backend (the default, under
``var/mail/``) and the in-memory one (tests) can answer; SMTP cannot, and says ``None``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from django.core import mail
from django.core.mail import get_connection
from django.core.mail.backends import filebased, locmem

CLOCK_MARGIN = dt.timedelta(minutes=1)
# The file backend ends each message it has written whole with this line.
END_OF_MESSAGE = b"\n" + b"-" * 79 + b"\n"


def _whole_messages_in(path: Path, needles: dict[bytes, str]) -> set[str]:
    """The Message-IDs of ``needles`` (header line -> id) whose message the file holds whole: a
    worker killed while writing leaves the header without the end of its message."""
    data = path.read_bytes()
    found = set()
    for needle, message_id in needles.items():
        start = data.find(needle)
        while start != -1:
            if data.find(END_OF_MESSAGE, start) != -1:
                found.add(message_id)
                break
            start = data.find(needle, start + 1)
    return found


def messages_delivered(
    message_ids: Iterable[str], *, since: dt.datetime | None = None
) -> set[str] | None:
    """Which of these Message-IDs the mail backend holds, or None when it cannot tell (SMTP and
    other backends).

    ``since``: the messages cannot be older than this; the file backend then reads only the files
    written to since (a minute's margin for the clocks)."""
    wanted = set(message_ids)
    connection = get_connection()
    if isinstance(connection, locmem.EmailBackend):
        return {
            message.extra_headers.get("Message-ID") for message in getattr(mail, "outbox", [])
        } & wanted
    if isinstance(connection, filebased.EmailBackend):
        oldest = (since - CLOCK_MARGIN).timestamp() if since else None
        needles = {f"Message-ID: {message_id}\n".encode(): message_id for message_id in wanted}
        found: set[str] = set()
        for path in sorted(Path(connection.file_path).glob("*.log")):
            if oldest is not None and path.stat().st_mtime < oldest:
                continue
            found |= _whole_messages_in(path, needles)
            if found == wanted:
                break
        return found
    return None


def message_delivered(message_id: str, *, since: dt.datetime | None = None) -> bool | None:
    """True when the mail backend holds this message whole, False when it can tell it does not,
    None when it cannot tell."""
    delivered = messages_delivered([message_id], since=since)
    return None if delivered is None else message_id in delivered
