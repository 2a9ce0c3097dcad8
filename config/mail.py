"""What the configured mail backend can tell about a message already handed to it.

A worker that dies after the mail server accepted a message but before it recorded the fact leaves
the sender in doubt. ``message_delivered`` asks the backend: the file backend (the default, under
``var/mail/``) and the in-memory one (tests) can answer; SMTP cannot, and says ``None``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core import mail
from django.core.mail import get_connection
from django.core.mail.backends import filebased, locmem

CHUNK = 1 << 20
CLOCK_MARGIN = dt.timedelta(minutes=1)


def _file_holds(path: Path, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the file, read in chunks (a mail folder can be large)."""
    overlap = len(needle) - 1
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            window = tail + chunk
            if needle in window:
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def message_delivered(message_id: str, *, since: dt.datetime | None = None) -> bool | None:
    """True when the mail backend holds a message with this Message-ID, False when it can tell
    it does not, None when it cannot tell (SMTP and other backends).

    ``since``: the message cannot be older than this; the file backend then reads only the files
    written to since (a minute's margin for the clocks)."""
    connection = get_connection()
    if isinstance(connection, locmem.EmailBackend):
        return any(
            message.extra_headers.get("Message-ID") == message_id
            for message in getattr(mail, "outbox", [])
        )
    if isinstance(connection, filebased.EmailBackend):
        folder = Path(connection.file_path)
        needle = f"Message-ID: {message_id}".encode()
        oldest = (since - CLOCK_MARGIN).timestamp() if since else None
        return any(
            _file_holds(path, needle)
            for path in sorted(folder.glob("*.log"))
            if oldest is None or path.stat().st_mtime >= oldest
        )
    return None
