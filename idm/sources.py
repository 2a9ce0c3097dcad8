"""What every record carries: where in the seed documents it comes from.

Records loaded from the IDM dataset keep the dataset's ``id`` (``dataset_id``, the key that makes
loading idempotent) and its ``source`` (file, lines, paragraph, section), which the admin shows.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

SEED_TITLES = {
    "000": "IDM 2005 paper (MC/INF/279)",
    "001": "Discussion note and 90th Council provisional agenda",
    "002": "IDM 2005 slides",
    "003": "The Year in Review 2005",
    "004": "OECD 2013 opinion notes",
}


def format_source(source: dict | None) -> str:
    """A reader's reference such as ``001 (Discussion note…) lines 186-202, para 9``."""
    if not source:
        return ""
    seed = str(source.get("file", ""))[:3]
    parts = [f"{seed} ({SEED_TITLES[seed]})" if seed in SEED_TITLES else source.get("file", "")]
    if source.get("lines"):
        lines = str(source["lines"])
        parts.append(f"lines {lines}" if "-" in lines or "," in lines else f"line {lines}")
    for key in ("paragraph", "section"):
        if source.get(key):
            parts.append(str(source[key]))
    return ", ".join(p for p in parts if p)


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class SourcedModel(TimeStampedModel):
    dataset_id = models.CharField(
        _("dataset id"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("Key of the record in the IDM seed dataset it was loaded from."),
    )
    source = models.JSONField(
        _("source"),
        default=dict,
        blank=True,
        help_text=_("Where the seed documents state it: file, lines, paragraph, section."),
    )

    class Meta:
        abstract = True

    @property
    def source_reference(self) -> str:
        return format_source(self.source)


def ordered_constraint(
    *, name: str, message: str, first: str = "start_date", second: str = "end_date", strict=False
) -> models.CheckConstraint:
    """``second`` comes after ``first`` (or on it, unless ``strict``) when both are given."""
    lookup = "gt" if strict else "gte"
    return models.CheckConstraint(
        condition=models.Q(**{f"{first}__isnull": True})
        | models.Q(**{f"{second}__isnull": True})
        | models.Q(**{f"{second}__{lookup}": models.F(first)}),
        name=name,
        violation_error_message=message,
    )
