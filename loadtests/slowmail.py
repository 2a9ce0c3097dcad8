"""A mail backend for the fault scripts: the file backend with a real mail server's pace.

An SMTP hand-over takes a few round trips before the server accepts the message (connect, EHLO,
MAIL, RCPT, DATA) and one after it (QUIT). The file backend writes in a millisecond, so a worker
killed "mid-send" would almost never be caught between its claim and its record. This one waits
``SLOWMAIL_BEFORE_MS`` (default 150) before writing the message and ``SLOWMAIL_AFTER_MS``
(default 150) after, and, being a file backend, can still be asked what it delivered
(``config.mail.message_delivered``). Set with ``EMAIL_BACKEND=loadtests.slowmail.EmailBackend``
(loadtests/env.sh does).
"""

import os
import time

from django.core.mail.backends import filebased


class EmailBackend(filebased.EmailBackend):
    def send_messages(self, email_messages):
        time.sleep(int(os.environ.get("SLOWMAIL_BEFORE_MS", "150")) / 1000)
        sent = super().send_messages(email_messages)
        time.sleep(int(os.environ.get("SLOWMAIL_AFTER_MS", "150")) / 1000)
        return sent
