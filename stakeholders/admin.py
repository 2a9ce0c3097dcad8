from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from idm.admin import (
    IdmAdmin,
    IdmPlainAdmin,
    IdmTabularInline,
    SeedDocumentFilter,
    SourcedAdminMixin,
)

from .models import (
    Group,
    GroupMembership,
    IdempotencyRecord,
    Organisation,
    OrganisationAPIKey,
    Person,
    Representative,
)


class RepresentativeInline(IdmTabularInline):
    model = Representative
    fields = ["user", "role", "person"]
    autocomplete_fields = ["user", "person"]


@admin.register(Organisation)
class OrganisationAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = ["name", "acronym", "kind", "kind_basis", "country", "parent"]
    list_select_related = ["parent"]
    search_fields = ["name", "acronym", "full_name", "country", "description"]
    list_filter = ["kind", "kind_basis", SeedDocumentFilter]
    autocomplete_fields = ["parent"]
    fieldsets = [
        (None, {"fields": ["name", "acronym", "full_name", "kind", "kind_basis"]}),
        (None, {"fields": ["country", "parent", "description", "notes"]}),
    ]
    inlines = [RepresentativeInline]


@admin.register(Person)
class PersonAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = [
        "name",
        "honorific",
        "title",
        "organisation",
        "country",
        "email",
        "language",
        "is_focal_point",
        "is_head_of_office",
    ]
    list_select_related = ["organisation"]
    search_fields = [
        "name",
        "title",
        "email",
        "country",
        "organisation__name",
        "organisation__acronym",
    ]
    list_filter = [
        "organisation__kind",
        "language",
        "is_focal_point",
        "is_head_of_office",
        SeedDocumentFilter,
    ]
    autocomplete_fields = ["organisation", "other_organisations"]
    fieldsets = [
        (None, {"fields": ["honorific", "name", "title", "email", "country"]}),
        (_("Affiliation"), {"fields": ["organisation", "other_organisations"]}),
        (
            _("Reminders"),
            {"fields": ["language", "is_focal_point", "is_head_of_office"]},
        ),
        (None, {"fields": ["notes"]}),
    ]


class GroupMembershipInline(IdmTabularInline):
    model = GroupMembership
    fields = ["organisation", "person", "role", "start_date", "end_date", "notes"]
    autocomplete_fields = ["organisation", "person"]


@admin.register(Group)
class GroupAdmin(SourcedAdminMixin, IdmAdmin):
    list_display = ["name", "acronym", "kind", "convened_by", "organisation"]
    list_select_related = ["convened_by", "organisation"]
    search_fields = ["name", "acronym", "description"]
    list_filter = ["kind", SeedDocumentFilter]
    autocomplete_fields = ["organisation", "convened_by"]
    inlines = [GroupMembershipInline]


@admin.register(GroupMembership)
class GroupMembershipAdmin(SourcedAdminMixin, IdmAdmin):
    label_related = ("organisation", "group")
    list_display = ["organisation", "group", "person", "role", "start_date", "end_date"]
    list_select_related = ["organisation", "group", "person"]
    search_fields = [
        "organisation__name",
        "organisation__acronym",
        "group__name",
        "group__acronym",
        "person__name",
    ]
    list_filter = ["group", "role"]
    autocomplete_fields = ["group", "organisation", "person"]


@admin.register(Representative)
class RepresentativeAdmin(IdmAdmin):
    label_related = ("user", "organisation")
    list_display = ["user", "organisation", "role", "person"]
    list_select_related = ["user", "organisation", "person"]
    search_fields = [
        "user__username",
        "user__email",
        "user__first_name",
        "user__last_name",
        "organisation__name",
        "organisation__acronym",
        "person__name",
    ]
    list_filter = ["role"]
    autocomplete_fields = ["user", "organisation", "person"]


@admin.register(OrganisationAPIKey)
class OrganisationAPIKeyAdmin(IdmAdmin):
    """API keys of organisations: the key is shown once, on creation; revoke instead of delete."""

    label_related = ("organisation",)
    list_display = [
        "prefix",
        "name",
        "organisation",
        "role",
        "created",
        "expiry_date",
        "last_used_at",
        "revoked",
    ]
    list_filter = ["revoked", "role", "created"]
    search_fields = ["name", "prefix", "organisation__name", "organisation__acronym"]
    autocomplete_fields = ["organisation"]
    actions = ["revoke"]
    fields = [
        "name",
        "organisation",
        "role",
        "expiry_date",
        "revoked",
        "prefix",
        "created",
        "last_used_at",
        "user",
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["prefix", "created", "last_used_at", "user"]
        if obj is not None:
            # A key keeps its organisation; a revoked key no longer changes at all.
            readonly.append("organisation")
            if obj.revoked:
                readonly += ["name", "role", "expiry_date", "revoked"]
        return readonly

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key = OrganisationAPIKey.objects.assign_key(obj)
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            gettext(
                "The API key %(name)s for %(organisation)s is: %(key)s — store it now, it is "
                "not shown again."
            )
            % {"name": obj.name, "organisation": obj.organisation.short_name, "key": key},
        )

    @admin.action(description=_("Revoke the selected API keys"), permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        with transaction.atomic():
            for api_key in queryset.select_for_update().filter(revoked=False):
                api_key.revoked = True
                api_key._change_reason = gettext("Revoked")
                api_key.save()
                count += 1
        messages.success(request, gettext("%(count)d API keys revoked.") % {"count": count})


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(IdmPlainAdmin):
    """What the API answered to POSTs with an Idempotency-Key (kept 24 hours), read-only."""

    list_display = ["caller", "key", "status_code", "created_at", "expires_at"]
    search_fields = ["caller", "key"]
    list_filter = ["status_code"]
    readonly_fields = [
        "caller",
        "key",
        "fingerprint",
        "status_code",
        "response_body",
        "response_headers",
        "created_at",
        "expires_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
