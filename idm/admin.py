"""Admin for the dialogue, its Council sessions, meetings, documents and agendas.

Also home of what every app's admin shares: the collapsed "Source in the seed documents"
fieldset of sourced records and the select_related of what a related object's label reads.
"""

from collections import defaultdict
from datetime import time

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .imports import agenda_items_import, agenda_items_import_plan
from .models import (
    Agenda,
    AgendaItem,
    AgendaSlot,
    AgendaVersion,
    CouncilSession,
    Dialogue,
    Document,
    Meeting,
    PolicyDomain,
    Room,
    Venue,
)
from .outputs import AGENDA_COLUMNS, agenda_rows, rows_csv
from .selectors import agenda_snapshot, event_title
from .services import (
    AgendaError,
    PlannedItem,
    PlannedSlot,
    agenda_adopt,
    agenda_changes_since_published,
    agenda_check_editable,
    agenda_close,
    agenda_conflicts,
    agenda_copy_to,
    agenda_next_event,
    agenda_publish,
    agenda_renumber,
    agenda_snapshots_diff,
    snapshot_item_times,
)
from .sources import SEED_TITLES

SOURCE_FIELDS = ("source_reference", "dataset_id")


class RelatedLabelsMixin:
    """Fetch what a model's ``__str__`` reads in the same query as the model.

    An admin names those relations in ``label_related``. Its own querysets (changelist, change
    page, autocomplete results) select them, and so do the choice and autocomplete widgets of
    every other admin or inline using this mixin that points to the model. The changelist applies
    ``list_select_related`` only to a queryset without any select_related, so it is added here.
    """

    label_related: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        list_related = getattr(self, "list_select_related", False)
        related = (
            *self.label_related,
            *(list_related if isinstance(list_related, list | tuple) else ()),
        )
        return queryset.select_related(*related) if related else queryset

    def get_field_queryset(self, db, db_field, request):
        queryset = super().get_field_queryset(db, db_field, request)
        model = db_field.remote_field.model
        if not self.admin_site.is_registered(model):
            return queryset
        related = getattr(self.admin_site.get_model_admin(model), "label_related", ())
        if not related:
            return queryset
        if queryset is None:
            queryset = model._default_manager.using(db)
        return queryset.select_related(*related)


class SeedDocumentFilter(admin.SimpleListFilter):
    title = _("seed document")
    parameter_name = "seed"

    def lookups(self, request, model_admin):
        return [
            *((code, f"{code} {title}") for code, title in SEED_TITLES.items()),
            ("none", _("Not from the seed documents")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(dataset_id__isnull=True)
        if value in SEED_TITLES:
            return queryset.filter(source__file__startswith=value)
        return queryset


class SourcedAdminMixin:
    """For SourcedModel admins: where the record comes from, read-only and collapsed.

    The raw ``source`` JSON is provenance from the seed dataset, so it is not editable here.
    """

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *SOURCE_FIELDS)

    def get_fieldsets(self, request, obj=None):
        hidden = (*SOURCE_FIELDS, "source")
        fieldsets = [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in super().get_fieldsets(request, obj)
        ]
        return [
            *fieldsets,
            (
                _("Source in the seed documents"),
                {"classes": ["collapse"], "fields": SOURCE_FIELDS},
            ),
        ]

    @admin.display(description=_("reference in the seed documents"))
    def source_reference(self, obj):
        return obj.source_reference or self.get_empty_value_display()


class IdmAdmin(RelatedLabelsMixin, SimpleHistoryAdmin):
    """Admin for a model with ``history = HistoricalRecords()``."""


class IdmPlainAdmin(RelatedLabelsMixin, admin.ModelAdmin):
    """Admin for a model without history."""


class IdmTabularInline(RelatedLabelsMixin, admin.TabularInline):
    extra = 0


# --- The agenda as printed -------------------------------------------------------------------


def _slot_times(slot: AgendaSlot) -> str:
    if slot.start_time is None:
        return ""
    if slot.end_time is None:
        return f"{slot.start_time:%H.%M}"
    return f"{slot.start_time:%H.%M} - {slot.end_time:%H.%M}"


def _item_details(item: AgendaItem) -> SafeString:
    presenters = item.presenter_text or "; ".join(
        person.display_with_title for person in item.presenters.all()
    )
    presenter_html = (
        format_html('<div class="agenda-presenter">{} {}</div>', gettext("by"), presenters)
        if presenters
        else ""
    )
    bullets_html = (
        format_html(
            '<ul class="agenda-bullets">{}</ul>',
            format_html_join("", "<li>{}</li>", ((str(bullet),) for bullet in item.bullets)),
        )
        if item.bullets
        else ""
    )
    return format_html("{}{}", presenter_html, bullets_html)


def _item_row(item: AgendaItem, *, times: str, label: str, continued: bool, details) -> SafeString:
    title = item.title
    if continued:
        title += " " + gettext("(cont'd)")
    return format_html(
        '<tr class="{}"><th scope="row" class="agenda-time">{}</th>'
        '<td class="agenda-label">{}</td><td class="agenda-title">{}{}</td></tr>',
        "agenda-sub-item" if item.parent_id else "agenda-item",
        times,
        label,
        title,
        details,
    )


def _day_section(heading: str, rows: list[SafeString]) -> SafeString:
    return format_html(
        '<section class="agenda-day"><h3>{}</h3><table><tbody>{}</tbody></table></section>',
        heading,
        format_html_join("", "{}", ((row,) for row in rows)),
    )


def agenda_as_printed(agenda: Agenda) -> SafeString:
    """The agenda day by day and time by time, as a provisional agenda prints it.

    Items come in ``position`` order within each day and start time; untimed slots follow the
    timed ones of their day. A parent item (5, 6) appears once a day with "(cont'd)" when its
    slot continues; a second slot on the same day is left out when its sub-items are printed
    in it with their own times, as in the printed agenda. Three queries whatever the size.
    """
    items = list(
        agenda.items.order_by("position", "number", "sub_item").prefetch_related(
            "slots", "presenters"
        )
    )
    if not items:
        return format_html("<p>{}</p>", gettext("No items yet."))

    sub_item_starts = defaultdict(list)
    entries = []
    unscheduled = []
    for item in items:
        slots = list(item.slots.all())
        if not slots:
            unscheduled.append(item)
        for slot in slots:
            entries.append((slot, item))
            if item.parent_id and slot.start_time:
                sub_item_starts[item.parent_id, slot.day].append(slot.start_time)
    entries.sort(
        key=lambda entry: (
            entry[0].day,
            entry[0].start_time or time.max,
            entry[1].position,
            entry[1].number,
            entry[1].sub_item,
            entry[0].position,
        )
    )

    def shown_by_sub_items(item, slot):
        if slot.start_time is None:
            return False
        return any(
            slot.start_time <= start and (slot.end_time is None or start < slot.end_time)
            for start in sub_item_starts[item.pk, slot.day]
        )

    sections = []
    rows = []
    detailed = set()
    day, printed_today, current_times, current_block = None, set(), "", ""
    for slot, item in entries:
        if slot.day != day:
            if rows:
                sections.append(_day_section(date_format(day, "l, j F Y"), rows))
            day, rows, printed_today, current_times, current_block = slot.day, [], set(), "", ""
        repeated_today = item.pk in printed_today
        if repeated_today and shown_by_sub_items(item, slot):
            continue
        times = _slot_times(slot)
        shown_times = times if times and times != current_times else ""
        current_times = times or current_times
        if item.block_title and item.block_title != current_block:
            rows.append(
                format_html(
                    '<tr class="agenda-block"><th scope="row" class="agenda-time">{}</th>'
                    '<td colspan="2">{}</td></tr>',
                    shown_times,
                    item.block_title,
                )
            )
            shown_times = ""
        current_block = item.block_title
        if repeated_today:
            label = ""
        elif item.sub_item:
            label = f"({item.sub_item})"
        else:
            label = gettext("Item %(number)s:") % {"number": item.number}
        details = "" if item.pk in detailed else _item_details(item)
        rows.append(
            _item_row(
                item, times=shown_times, label=label, continued=slot.continued, details=details
            )
        )
        printed_today.add(item.pk)
        detailed.add(item.pk)
    if rows:
        sections.append(_day_section(date_format(day, "l, j F Y"), rows))
    if unscheduled:
        sections.append(
            _day_section(
                gettext("Not yet scheduled"),
                [
                    _item_row(
                        item,
                        times="",
                        label=f"({item.sub_item})"
                        if item.sub_item
                        else gettext("Item %(number)s:") % {"number": item.number},
                        continued=False,
                        details=_item_details(item),
                    )
                    for item in unscheduled
                ],
            )
        )
    return format_html(
        '<div class="agenda-as-printed">{}</div>',
        format_html_join("", "{}", ((section,) for section in sections)),
    )


# --- Registrations ---------------------------------------------------------------------------


@admin.register(PolicyDomain)
class PolicyDomainAdmin(SourcedAdminMixin, IdmPlainAdmin):
    list_display = ["name", "slug", "acronyms"]
    search_fields = ["name", "slug", "description"]
    list_filter = [SeedDocumentFilter]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description=_("related acronyms"))
    def acronyms(self, obj):
        return ", ".join(str(acronym) for acronym in obj.related_acronyms or [])


class RoomInline(IdmTabularInline):
    model = Room
    fields = ["name", "capacity"]


@admin.register(Venue)
class VenueAdmin(IdmAdmin):
    list_display = ["name", "city", "country", "opens_at", "closes_at"]
    search_fields = ["name", "city", "country"]
    list_filter = ["country"]
    inlines = [RoomInline]


@admin.register(Room)
class RoomAdmin(IdmPlainAdmin):
    label_related = ("venue",)
    list_display = ["name", "venue", "capacity"]
    list_select_related = ["venue"]
    search_fields = ["name", "venue__name", "venue__city"]
    list_filter = ["venue"]
    autocomplete_fields = ["venue"]


@admin.register(Dialogue)
class DialogueAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = ["year", "theme", "status", "status_note"]
    list_display_links = ["year", "theme"]
    search_fields = ["theme", "status_note", "theme_rationale", "planning_note"]
    list_filter = ["status"]


@admin.register(CouncilSession)
class CouncilSessionAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = [
        "name",
        "body",
        "number",
        "is_special",
        "start_date",
        "end_date",
        "venue",
        "room",
        "dialogue",
        "agenda_link",
    ]
    list_select_related = ["venue", "room__venue", "dialogue", "agenda"]
    search_fields = ["name", "notes", "dialogue__theme", "venue__name"]
    list_filter = ["body", "is_special", SeedDocumentFilter]
    date_hierarchy = "start_date"
    autocomplete_fields = ["venue", "room", "dialogue"]

    @admin.display(description=_("agenda"))
    def agenda_link(self, obj):
        agenda = getattr(obj, "agenda", None)
        if agenda is None:
            return self.get_empty_value_display()
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:idm_agenda_change", args=[agenda.pk]),
            agenda.title,
        )


@admin.register(Meeting)
class MeetingAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = [
        "title",
        "kind",
        "council_session",
        "dialogue",
        "start_date",
        "end_date",
        "status",
    ]
    list_select_related = ["council_session", "dialogue"]
    search_fields = ["title", "description", "council_session__name", "dialogue__theme"]
    list_filter = ["kind", "status", "dialogue", SeedDocumentFilter]
    date_hierarchy = "start_date"
    autocomplete_fields = ["dialogue", "council_session", "venue", "room"]


@admin.register(Document)
class DocumentAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = [
        "title",
        "symbol",
        "kind",
        "year",
        "date_text",
        "issued_by",
        "language",
        "due_date",
        "received_on",
    ]
    search_fields = ["symbol", "title", "authors_text", "publisher", "notes"]
    list_filter = [
        "kind",
        "year",
        "language",
        ("due_date", admin.DateFieldListFilter),
        ("received_on", admin.EmptyFieldListFilter),
        SeedDocumentFilter,
    ]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    autocomplete_fields = [
        "issuing_organisations",
        "authors",
        "dialogue",
        "council_session",
        "meeting",
        "workshop",
        "parent",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("issuing_organisations")

    @admin.display(description=_("issued by"))
    def issued_by(self, obj):
        return ", ".join(org.short_name for org in obj.issuing_organisations.all())


# --- Agendas: their items, published versions and lifecycle ----------------------------------


def _saved_agenda(pk) -> Agenda | None:
    """The agenda as stored (its state may only change through the services)."""
    return Agenda.objects.filter(pk=pk).first() if pk else None


def _editable(agenda) -> bool:
    try:
        agenda_check_editable(agenda=agenda)
    except AgendaError:
        return False
    return True


class RefuseClosedDeleteMixin:
    """The "delete selected" action refuses rows of a closed agenda: a message, nothing deleted.

    ``agenda_path`` is the lookup from the model to its agenda.
    """

    agenda_path = "agenda"
    actions = ["delete_selected"]

    @admin.action(permissions=["delete"], description=_("Delete selected %(verbose_name_plural)s"))
    def delete_selected(self, request, queryset):
        closed = []
        agendas = Agenda.objects.filter(pk__in=queryset.values(f"{self.agenda_path}_id"))
        for agenda in agendas.select_related("council_session", "meeting", "workshop__dialogue"):
            try:
                agenda_check_editable(agenda=agenda)
            except AgendaError as error:
                closed.extend(error.messages)
        if closed:
            self.message_user(
                request,
                " ".join([*closed, gettext("Nothing was deleted.")]),
                level=messages.ERROR,
            )
            return None
        return django_delete_selected(self, request, queryset)


def _refuse_closed(*agendas) -> None:
    """Turn the services' refusal to edit a closed agenda into a form error."""
    for agenda in agendas:
        try:
            agenda_check_editable(agenda=agenda)
        except AgendaError as error:
            raise ValidationError(error.messages) from error


def _add_conflict_errors(conflicts, forms_by_key: dict, *, slot_forms: dict | None = None):
    """Attach each conflict to the form (or slot form) it is about; return the others."""
    unplaced = []
    for conflict in conflicts:
        if slot_forms is not None and conflict.slot in slot_forms:
            slot_forms[conflict.slot].add_error(None, conflict.message)
            continue
        form = forms_by_key.get(conflict.key)
        if form is None:
            unplaced.append(conflict.message)
        elif conflict.field in form.fields:
            form.add_error(conflict.field, conflict.message)
        else:
            form.add_error(None, conflict.message)
    return unplaced


class AgendaItemInlineFormSet(BaseInlineFormSet):
    """The items of an agenda page: refused on a closed agenda, checked for conflicts."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        changed = [
            form
            for form in self.forms
            if form.has_changed() or (self.can_delete and self._should_delete_form(form))
        ]
        if not changed:
            return
        _refuse_closed(_saved_agenda(self.instance.pk))
        agenda = self.instance
        if agenda.event is None:
            return  # the agenda form says which event is missing
        planned, removed, forms_by_key = [], [], {}
        for form in changed:
            if self.can_delete and self._should_delete_form(form):
                if form.instance.pk:
                    removed.append(form.instance.pk)
                continue
            key = form.instance.pk or form.prefix
            forms_by_key[key] = form
            planned.append(
                PlannedItem.from_item(
                    form.instance, key=key, presenters=form.cleaned_data.get("presenters") or []
                )
            )
        unplaced = _add_conflict_errors(
            agenda_conflicts(agenda=agenda, items=planned, removed=removed), forms_by_key
        )
        if unplaced:
            raise ValidationError(unplaced)


class AgendaItemInline(IdmTabularInline):
    model = AgendaItem
    formset = AgendaItemInlineFormSet
    fields = [
        "position",
        "number",
        "sub_item",
        "parent",
        "title",
        "presenters",
        "room",
        "allow_overlap",
    ]
    autocomplete_fields = ["parent", "presenters", "room"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("presenters", "slots")


def _snapshot_as_html(snapshot: dict) -> SafeString:
    """A frozen agenda as a readable table: label, title, presenters, times."""
    event = snapshot.get("event", {})
    rows = []
    for entry in snapshot.get("items", []):
        presenters = entry.get("presenter_text") or "; ".join(
            person["name"] for person in entry.get("presenters", [])
        )
        rows.append(
            format_html(
                '<tr class="{}"><td class="agenda-label">{}</td><td>{}{}{}</td>'
                '<td class="agenda-time">{}</td></tr>',
                "agenda-sub-item" if entry.get("parent_key") else "agenda-item",
                entry["label"],
                format_html("<strong>{}</strong><br>", entry["block_title"])
                if entry.get("block_title")
                else "",
                entry["title"],
                format_html('<div class="agenda-presenter">{} {}</div>', gettext("by"), presenters)
                if presenters
                else "",
                snapshot_item_times(entry),
            )
        )
    return format_html(
        '<div class="agenda-snapshot"><p>{} — {}</p><table><tbody>{}</tbody></table></div>',
        snapshot.get("title", ""),
        event.get("title", ""),
        format_html_join("", "{}", ((row,) for row in rows)),
    )


def _changes_as_html(changes) -> SafeString:
    if not changes:
        return format_html("<p>{}</p>", gettext("No changes."))
    return format_html(
        '<ul class="agenda-changes">{}</ul>',
        format_html_join("", "<li>{}</li>", ((change.text,) for change in changes)),
    )


class AgendaVersionInline(IdmTabularInline):
    """The versions published so far, read-only: a version is never edited."""

    model = AgendaVersion
    fields = ["number", "state", "symbol", "published_at", "published_by"]
    readonly_fields = fields
    label_related = ("published_by",)
    show_change_link = True
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("published_by")


class AgendaImportForm(forms.Form):
    """A CSV file to preview, or the previewed text posted back to be applied."""

    file = forms.FileField(label=_("CSV file"), required=False)
    content = forms.CharField(widget=forms.Textarea, required=False, strip=False)

    MAX_BYTES = 2 * 1024 * 1024

    def clean(self):
        cleaned_data = super().clean()
        upload = cleaned_data.get("file")
        if upload is not None:
            if upload.size > self.MAX_BYTES:
                raise ValidationError(_("The file is too large (at most 2 MB)."))
            try:
                cleaned_data["content"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError as error:
                raise ValidationError(
                    _("The file is not UTF-8 text: save it as CSV (UTF-8).")
                ) from error
        if not cleaned_data.get("content"):
            raise ValidationError(_("Choose a CSV file."))
        return cleaned_data


class AgendaAdminForm(forms.ModelForm):
    class Meta:
        model = Agenda
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose)

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk and self.has_changed():
            _refuse_closed(_saved_agenda(self.instance.pk))
        return cleaned_data


@admin.register(Agenda)
class AgendaAdmin(IdmAdmin):
    form = AgendaAdminForm
    label_related = ("council_session", "meeting", "workshop__dialogue")
    list_display = ["title", "event", "state", "document", "item_count"]
    list_select_related = ["council_session", "meeting", "workshop__dialogue", "document"]
    search_fields = ["title", "council_session__name", "meeting__title", "workshop__title"]
    list_filter = ["state"]
    ordering = ["-created_at", "-pk"]  # no Meta.ordering; the annotation would drop it anyway
    autocomplete_fields = ["council_session", "meeting", "workshop", "document"]
    readonly_fields = ["state", "copied_from", "as_printed", "changes_since_published"]
    inlines = [AgendaItemInline, AgendaVersionInline]
    actions = ["publish", "adopt", "close", "copy_to_next_year", "renumber", "export_csv"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_count=Count("items"))

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["title", "state", "document"]}),
            (
                _("Event"),
                {
                    "fields": ["council_session", "meeting", "workshop"],
                    "description": _("The agenda belongs to exactly one of these."),
                },
            ),
        ]
        if obj is not None:
            if obj.copied_from_id:
                fieldsets[0][1]["fields"].append("copied_from")
            fieldsets.append(
                (
                    _("Changes since the last published version"),
                    {"fields": ["changes_since_published"]},
                )
            )
            fieldsets.append((_("Agenda as printed"), {"fields": ["as_printed"]}))
        return fieldsets

    @admin.display(description=_("event"))
    def event(self, obj):
        return obj.event

    # -- Import of items from the CSV export ------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/import-items/",
                self.admin_site.admin_view(self.import_items_view),
                name="idm_agenda_import_items",
            ),
            *super().get_urls(),
        ]

    def import_items_view(self, request, object_id):
        """Upload a CSV (the agenda's own export), preview it row by row, then confirm.

        The preview writes nothing; the confirmation posts the same text back and applies it
        through ``agenda_items_import`` in one transaction, or shows why it was refused.
        """
        agenda = self.get_object(request, unquote(object_id))
        if agenda is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, agenda):
            raise PermissionDenied
        change_url = reverse("admin:idm_agenda_change", args=[agenda.pk])
        plan, content = None, ""
        form = AgendaImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            content = form.cleaned_data["content"]
            if "confirm" in request.POST:
                try:
                    plan = agenda_items_import(agenda=agenda, content=content, by=request.user)
                except AgendaError as error:
                    plan = getattr(error, "plan", None)
                    self.message_user(
                        request,
                        gettext("Nothing was imported: %(reason)s")
                        % {"reason": " ".join(error.messages[:5])},
                        level=messages.ERROR,
                    )
                else:
                    message = gettext(
                        "Imported %(created)s new and %(updated)s updated items from CSV."
                    ) % {"created": plan.created, "updated": plan.updated}
                    self.log_change(request, agenda, message)
                    self.message_user(request, message, level=messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
            else:
                plan = agenda_items_import_plan(agenda=agenda, content=content)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import items from CSV"),
            "subtitle": str(agenda),
            "opts": self.opts,
            "original": agenda,
            "has_view_permission": True,
            "change_url": change_url,
            "form": form,
            "plan": plan,
            "rows": [(row, plan.conflicts_of(row)) for row in plan.rows] if plan else [],
            "content": content,
            "columns": [header for _key, header in AGENDA_COLUMNS],
        }
        return TemplateResponse(request, "admin/idm/agenda/import_items.html", context)

    @admin.display(description=_("items"), ordering="item_count")
    def item_count(self, obj):
        return obj.item_count

    @admin.display(description=_("agenda as printed"))
    def as_printed(self, obj):
        if obj is None or obj.pk is None:
            return self.get_empty_value_display()
        return agenda_as_printed(obj)

    @admin.display(description=_("changes since the last published version"))
    def changes_since_published(self, obj):
        if obj is None or obj.pk is None:
            return self.get_empty_value_display()
        changes = agenda_changes_since_published(agenda=obj)
        if changes is None:
            return format_html("<p>{}</p>", gettext("Not published yet."))
        return _changes_as_html(changes)

    def _run(self, request, queryset, action, success) -> None:
        """Call a service on each selected agenda; its refusals become error messages."""
        for agenda in queryset:
            try:
                result = action(agenda)
            except AgendaError as error:
                self.message_user(
                    request,
                    format_html(
                        "{}: {}",
                        str(agenda),
                        format_html_join(" ", "{}", ((m,) for m in error.messages)),
                    ),
                    level=messages.ERROR,
                )
            else:
                self.message_user(request, success(agenda, result), level=messages.SUCCESS)

    @admin.action(description=_("Publish the selected agendas (provisional)"))
    def publish(self, request, queryset):
        """Publish under the symbol of the agenda's document, when it has one."""
        latest = {}

        def publish(agenda):
            latest[agenda.pk] = agenda.versions.order_by("-number").first()
            symbol = (agenda.document.symbol or "") if agenda.document else ""
            return agenda_publish(agenda=agenda, by=request.user, symbol=symbol)

        def success(agenda, version):
            if version == latest[agenda.pk]:
                return gettext(
                    "%(agenda)s has not changed since version %(number)s: nothing new to publish."
                ) % {"agenda": agenda, "number": version.number}
            return gettext("%(agenda)s published as version %(number)s.") % {
                "agenda": agenda,
                "number": version.number,
            }

        self._run(request, queryset, publish, success)

    @admin.action(description=_("Adopt the selected agendas"))
    def adopt(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda agenda: agenda_adopt(agenda=agenda, by=request.user),
            lambda agenda, version: (
                gettext("%(agenda)s adopted (version %(number)s).")
                % {"agenda": agenda, "number": version.number}
            ),
        )

    @admin.action(description=_("Close the selected agendas"))
    def close(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda agenda: agenda_close(agenda=agenda, by=request.user),
            lambda agenda, _result: gettext("%(agenda)s closed.") % {"agenda": agenda},
        )

    @admin.action(description=_("Renumber the items of the selected agendas by their order"))
    def renumber(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda agenda: agenda_renumber(agenda=agenda),
            lambda agenda, _items: gettext("%(agenda)s renumbered.") % {"agenda": agenda},
        )

    @admin.action(description=_("Export the items of the selected agenda as they stand (CSV)"))
    def export_csv(self, request, queryset):
        """The working items (not a published version), in the columns the CSV import reads."""
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Select exactly one agenda to export."), level=messages.ERROR
            )
            return None
        agenda = queryset.get()
        body = rows_csv(agenda_rows(agenda_snapshot(agenda)), AGENDA_COLUMNS)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="agenda-{agenda.pk}-working.csv"'
        return response

    @admin.action(description=_("Copy to the next year's event"))
    def copy_to_next_year(self, request, queryset):
        def copy(agenda):
            event = agenda_next_event(agenda=agenda)
            if event is None:
                raise AgendaError(
                    gettext(
                        "there is no event of the next year to copy it to; create it first "
                        "(for a Council session, the session with the next number)."
                    )
                )
            return agenda_copy_to(agenda=agenda, event=event, by=request.user)

        self._run(
            request,
            queryset,
            copy,
            lambda agenda, new: format_html(
                '{} <a href="{}">{}</a>',
                gettext("%(agenda)s copied to") % {"agenda": agenda},
                reverse("admin:idm_agenda_change", args=[new.pk]),
                event_title(new.event),
            ),
        )


@admin.register(AgendaVersion)
class AgendaVersionAdmin(IdmPlainAdmin):
    """Published versions, for reading only: they are made by publishing or adopting."""

    label_related = ("agenda__council_session", "agenda__meeting", "agenda__workshop__dialogue")
    list_display = ["__str__", "number", "state", "symbol", "published_at", "published_by"]
    list_select_related = ["published_by"]
    list_filter = ["state"]
    search_fields = ["symbol", "agenda__title", "agenda__council_session__name"]
    date_hierarchy = "published_at"
    fields = [
        "agenda",
        "number",
        "state",
        "symbol",
        "published_at",
        "published_by",
        "changes_from_previous",
        "as_published",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("agenda as published"))
    def as_published(self, obj):
        return _snapshot_as_html(obj.snapshot)

    @admin.display(description=_("changes from the previous version"))
    def changes_from_previous(self, obj):
        previous = (
            AgendaVersion.objects.filter(agenda_id=obj.agenda_id, number__lt=obj.number)
            .order_by("-number")
            .first()
        )
        if previous is None:
            return gettext("First version.")
        return _changes_as_html(agenda_snapshots_diff(old=previous.snapshot, new=obj.snapshot))


class AgendaSlotInlineFormSet(BaseInlineFormSet):
    """An item's slots: refused on a closed agenda, checked for conflicts with the item's
    pending changes (room, presenters, parent, parallel session)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        item = self.instance
        agenda = item.agenda if item.agenda_id else None
        if agenda is None:
            return
        slot_forms = {}
        slots = []
        changed = bool(getattr(item, "_admin_changed", False))
        for form in self.forms:
            deleted = self.can_delete and self._should_delete_form(form)
            changed = changed or deleted or form.has_changed()
            if deleted or not form.cleaned_data:
                continue
            slot_forms[form.prefix] = form
            data = form.cleaned_data
            slots.append(
                PlannedSlot(data["day"], data.get("start_time"), data.get("end_time"), form.prefix)
            )
        if not changed:
            return
        _refuse_closed(_saved_agenda(agenda.pk))
        planned = PlannedItem.from_item(
            item,
            key=item.pk or "new",
            presenters=getattr(item, "_admin_presenters", None),
            slots=slots,
        )
        unplaced = _add_conflict_errors(
            agenda_conflicts(agenda=agenda, items=[planned]), {}, slot_forms=slot_forms
        )
        if unplaced:
            raise ValidationError(unplaced)


class AgendaSlotInline(IdmTabularInline):
    model = AgendaSlot
    formset = AgendaSlotInlineFormSet
    fields = ["day", "start_time", "end_time", "continued", "note", "position"]


class AgendaItemAdminForm(forms.ModelForm):
    class Meta:
        model = AgendaItem
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose)

    def clean(self):
        cleaned_data = super().clean()
        if self.has_changed() or not self.instance.pk:
            _refuse_closed(_saved_agenda(self.instance.agenda_id), cleaned_data.get("agenda"))
        # what the slots' conflict check needs of this form
        self.instance._admin_changed = self.has_changed()
        if "presenters" in cleaned_data:
            self.instance._admin_presenters = list(cleaned_data["presenters"])
        return cleaned_data


@admin.register(AgendaItem)
class AgendaItemAdmin(RefuseClosedDeleteMixin, SourcedAdminMixin, IdmAdmin):
    form = AgendaItemAdminForm
    list_display = ["full_label", "title", "agenda", "position", "presenter", "dialogue"]
    list_display_links = ["full_label", "title"]
    list_select_related = [
        "agenda__council_session",
        "agenda__meeting",
        "agenda__workshop__dialogue",
        "dialogue",
    ]
    search_fields = ["title", "block_title", "presenter_text", "presenters__name", "notes"]
    list_filter = ["dialogue", SeedDocumentFilter]
    autocomplete_fields = ["agenda", "parent", "presenters", "room", "dialogue", "documents"]
    fieldsets = [
        (None, {"fields": ["agenda", "parent", "number", "sub_item", "position"]}),
        (
            None,
            {
                "fields": [
                    "block_title",
                    "title",
                    "format",
                    "bullets",
                    "room",
                    "allow_overlap",
                    "dialogue",
                ]
            },
        ),
        (_("Presenters"), {"fields": ["presenters", "presenter_text"]}),
        (_("Documents and notes"), {"fields": ["documents", "notes"]}),
    ]
    inlines = [AgendaSlotInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("presenters")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not _editable(obj.agenda):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("item"), ordering="number")
    def full_label(self, obj):
        return obj.full_label

    @admin.display(description=_("presenters"))
    def presenter(self, obj):
        return obj.presenter_text or ", ".join(str(person) for person in obj.presenters.all())


class AgendaSlotAdminForm(forms.ModelForm):
    class Meta:
        model = AgendaSlot
        fields = "__all__"  # noqa: DJ007 (the admin's fields choose)

    def clean(self):
        cleaned_data = super().clean()
        item = cleaned_data.get("item")
        if item is None or not (self.has_changed() or not self.instance.pk):
            return cleaned_data
        previous = self.instance.item if self.instance.pk else None
        _refuse_closed(item.agenda, previous.agenda if previous else None)
        if "day" not in cleaned_data:
            return cleaned_data
        slot = PlannedSlot(
            cleaned_data["day"],
            cleaned_data.get("start_time"),
            cleaned_data.get("end_time"),
            "this",
        )
        slots = [
            PlannedSlot(each.day, each.start_time, each.end_time, each.pk)
            for each in item.slots.exclude(pk=self.instance.pk)
        ]
        planned = PlannedItem.from_item(item, slots=[*slots, slot])
        conflicts = [
            conflict.message
            for conflict in agenda_conflicts(agenda=item.agenda, items=[planned])
            if conflict.slot == "this"
        ]
        if conflicts:
            raise ValidationError(conflicts)
        return cleaned_data


@admin.register(AgendaSlot)
class AgendaSlotAdmin(RefuseClosedDeleteMixin, IdmPlainAdmin):
    form = AgendaSlotAdminForm
    agenda_path = "item__agenda"
    list_display = ["__str__", "item", "continued", "note"]
    list_select_related = ["item"]
    search_fields = ["item__title", "note"]
    list_filter = ["continued", "day"]
    date_hierarchy = "day"
    autocomplete_fields = ["item"]

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not _editable(obj.item.agenda):
            return False
        return super().has_delete_permission(request, obj)
