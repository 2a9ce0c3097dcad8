"""``manage.py otp_enroll <username>``: give a staff account an authenticator (TOTP) device.

Prints the ``otpauth://`` address and its QR code for the person to scan with an authenticator
app (FreeOTP, Aegis, Google Authenticator…). From then on the admin asks that account for its
six-digit code. ``--replace`` removes the account's earlier devices (a lost phone).
"""

import io

import qrcode
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = _("Give a staff account an authenticator app (TOTP) for the admin's second factor.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help=_("Name of the device, e.g. 'phone'."))
        parser.add_argument(
            "--replace", action="store_true", help=_("Remove the account's earlier devices.")
        )
        parser.add_argument(
            "--no-qr", action="store_true", help=_("Print the address only, without a QR code.")
        )

    def handle(self, *args, username: str, name: str, replace: bool, no_qr: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("No account has the user name %(name)s.") % {"name": username})
        if not user.is_staff:
            raise CommandError(
                _("%(name)s is not a staff account: only the admin asks for a second factor.")
                % {"name": username}
            )
        existing = TOTPDevice.objects.filter(user=user)
        if existing.exists() and not replace:
            raise CommandError(
                _("%(name)s already has an authenticator; give --replace to replace it.")
                % {"name": username}
            )
        with transaction.atomic():
            existing.delete()
            device = TOTPDevice.objects.create(
                user=user, name=name or _("authenticator"), confirmed=True
            )
        self.stdout.write(
            _("%(name)s now signs in to the admin with a one-time code. Scan this address:")
            % {"name": username}
        )
        if not no_qr:
            code = qrcode.QRCode(border=1)
            code.add_data(device.config_url)
            out = io.StringIO()
            code.print_ascii(out=out, invert=True)
            self.stdout.write(out.getvalue())
        self.stdout.write(device.config_url)
