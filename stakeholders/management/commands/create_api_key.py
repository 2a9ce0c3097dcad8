"""``manage.py create_api_key --organisation ILO --name "ILO tracker"``: a key, printed once.

The key itself is the last line of the output, alone, so that a script can take it with
``tail -n 1``; only its hash is stored.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from stakeholders.models import API_KEY_ROLES, Organisation, OrganisationAPIKey

NAME_MAX_LENGTH = OrganisationAPIKey._meta.get_field("name").max_length


def organisation_named(value: str) -> Organisation:
    """The organisation with this acronym, or this dataset id; a ``CommandError`` otherwise."""
    value = value.strip()
    if not value:
        raise CommandError(_("Give the organisation's acronym or dataset id."))
    by_id = Organisation.objects.filter(dataset_id=value).first()
    if by_id is not None:
        return by_id
    matches = list(Organisation.objects.filter(acronym=value).order_by("dataset_id", "pk"))
    if not matches:
        matches = list(
            Organisation.objects.filter(Q(acronym__iexact=value)).order_by("dataset_id", "pk")
        )
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CommandError(
            _("No organisation has the acronym or dataset id %(value)s.") % {"value": value}
        )
    choices = "; ".join(
        f"{organisation.dataset_id or f'(no dataset id, pk {organisation.pk})'} "
        f"= {organisation.name}"
        for organisation in matches
    )
    raise CommandError(
        _(
            "%(count)d organisations have the acronym %(value)s: give the dataset id instead, "
            "one of: %(choices)s."
        )
        % {"count": len(matches), "value": value, "choices": choices}
    )


def end_of_day(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` as the first moment after that day, local time: the key works all day."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(
            _("--expires takes a date as YYYY-MM-DD, not %(text)s.") % {"text": text}
        ) from None
    expires = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    if expires <= timezone.now():
        raise CommandError(_("--expires must be today or a later day."))
    return expires


class Command(BaseCommand):
    help = _(
        "Create an API key for an organisation and print it; the key is the last line, alone. "
        "It is shown only this once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--organisation",
            required=True,
            help=_("Acronym (e.g. ILO) or, where an acronym is shared, dataset id (org-ilo)."),
        )
        parser.add_argument(
            "--name", required=True, help=_("A label for the key, e.g. the client system.")
        )
        parser.add_argument(
            "--expires", help=_("Last day the key works, as YYYY-MM-DD (default: no expiry).")
        )
        parser.add_argument(
            "--role",
            choices=[value for value, _label in API_KEY_ROLES],
            help=_("Act as a partner agency or a delegation (default: from the organisation)."),
        )

    def handle(self, *args, organisation, name, expires=None, role=None, **options):
        name = name.strip()
        if not name:
            raise CommandError(_("Give the key a name (--name)."))
        if len(name) > NAME_MAX_LENGTH:
            raise CommandError(
                _("The name may have at most %(count)d characters.") % {"count": NAME_MAX_LENGTH}
            )
        target = organisation_named(organisation)
        expiry = end_of_day(expires) if expires else None
        api_key, key = OrganisationAPIKey.objects.create_key(
            name=name, organisation=target, role=role or "", expiry_date=expiry
        )
        self.stdout.write(
            _("API key %(prefix)s for %(organisation)s, acting as %(role)s%(expiry)s.")
            % {
                "prefix": api_key.prefix,
                "organisation": target,
                "role": api_key.get_role_display().lower(),
                "expiry": (_(", expires after %(day)s") % {"day": expires} if expires else ""),
            }
        )
        self.stdout.write(_("Store it now: it is not shown again."))
        self.stdout.write(key)
