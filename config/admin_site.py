"""The admin site of the secretariat: a password, then a one-time code where one is required.

A staff account with a confirmed TOTP device must always give its code; when the setting
ADMIN_REQUIRE_2FA is on (the production default) every staff account must, and one without a
device cannot sign in until it is enrolled (``manage.py otp_enroll <username>``).
"""

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice


def second_factor_required(user) -> bool:
    """Whether this staff account must give a one-time code to use the admin.

    Asked several times a request: the answer is kept on the request's user object.
    """
    if settings.ADMIN_REQUIRE_2FA:
        return True
    if not hasattr(user, "_idm_has_otp_device"):
        user._idm_has_otp_device = second_factor_enrolled(user)
    return user._idm_has_otp_device


def second_factor_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


class AdminLoginForm(AdminAuthenticationForm, OTPAuthenticationFormMixin):
    otp_device = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_token = forms.CharField(
        label=_("One-time code"),
        required=False,
        help_text=_("The six digits your authenticator app shows, if your account has one."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_challenge = forms.CharField(required=False, widget=forms.HiddenInput)

    def _chosen_device(self, user):
        """The device picked on the form, else the account's authenticator app."""
        return super()._chosen_device(user) or (
            TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
        )

    def clean(self):
        cleaned_data = super().clean()
        user = self.get_user()
        if user is not None and second_factor_required(user):
            if not second_factor_enrolled(user):
                raise forms.ValidationError(
                    _(
                        "This account must sign in with a one-time code, and has no "
                        "authenticator yet: ask an administrator to enrol it."
                    ),
                    code="otp_enrolment_required",
                )
            self.clean_otp(user)
        return cleaned_data


class SecretariatAdminSite(AdminSite):
    login_form = AdminLoginForm

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        if second_factor_required(request.user):
            return request.user.is_verified()
        return True
