from django.shortcuts import render
from django.utils.translation import gettext as _

from workshops.selectors import proposal_rounds_open

from .selectors import dialogues_with_events


def home(request):
    """The public front page: each year's dialogue, its sessions and workshops, open rounds."""
    return render(
        request,
        "idm/home.html",
        {
            "title": _("International Dialogue on Migration"),
            "dialogues": dialogues_with_events(),
            "open_rounds": proposal_rounds_open(),
        },
    )
