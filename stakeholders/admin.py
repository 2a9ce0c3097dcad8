from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from idm.admin import IdmAdmin, IdmTabularInline, SeedDocumentFilter, SourcedAdminMixin

from .models import Group, GroupMembership, Organisation, Person, Representative


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
    list_display = ["name", "honorific", "title", "organisation", "country", "email"]
    list_select_related = ["organisation"]
    search_fields = [
        "name",
        "title",
        "email",
        "country",
        "organisation__name",
        "organisation__acronym",
    ]
    list_filter = ["organisation__kind", SeedDocumentFilter]
    autocomplete_fields = ["organisation", "other_organisations"]
    fieldsets = [
        (None, {"fields": ["honorific", "name", "title", "email", "country"]}),
        (_("Affiliation"), {"fields": ["organisation", "other_organisations"]}),
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
