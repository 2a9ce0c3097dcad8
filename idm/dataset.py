"""Load the IDM seed dataset (the 2005 dialogue and what it draws on) into the database.

The project carries its own copy of the dataset in ``idm/data/idm_dataset.json``. Every record
keeps the dataset's ``id`` as ``dataset_id`` and its ``source`` in the seed documents. Loading is
idempotent: a record whose ``dataset_id`` is already in the database is left as it is (an officer
may have edited it), so a second load creates nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import models, transaction
from django.utils.text import slugify
from simple_history.utils import bulk_create_with_history

from recommendations.enums import AssignmentRole, RecommendationState
from recommendations.models import Assignment, Recommendation
from stakeholders.enums import GroupKind, KindBasis, MembershipRole, OrganisationKind
from stakeholders.models import Group, GroupMembership, Organisation, Person
from workshops.enums import (
    PartnerRole,
    ProposalEventKind,
    ProposalKind,
    ProposalState,
    WorkshopKind,
    WorkshopStatus,
)
from workshops.models import (
    FundedParticipation,
    ProposalEvent,
    ProposalRound,
    ThemeProposal,
    Workshop,
    WorkshopPartner,
)

from .enums import (
    AgendaState,
    CouncilBody,
    DialogueStatus,
    DocumentKind,
    MeetingKind,
    MeetingStatus,
)
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
from .selectors import agenda_snapshot

logger = logging.getLogger(__name__)

DATASET_PATH = Path(__file__).resolve().parent / "data" / "idm_dataset.json"

ORGANISATION_KINDS = {
    "member_state": OrganisationKind.MEMBER_STATE,
    "government_body": OrganisationKind.GOVERNMENT_BODY,
    "un_gmg_agency": OrganisationKind.UN_AGENCY,
    "intergovernmental_organisation": OrganisationKind.INTERGOVERNMENTAL,
    "iom_governing_body": OrganisationKind.GOVERNING_BODY,
    "regional_consultative_process": OrganisationKind.REGIONAL_CONSULTATIVE_PROCESS,
    "regional_economic_body": OrganisationKind.REGIONAL_ECONOMIC_BODY,
    "global_forum_or_process": OrganisationKind.GLOBAL_FORUM,
    "ngo": OrganisationKind.NGO,
    "diaspora_migrant_association": OrganisationKind.DIASPORA,
    "business": OrganisationKind.BUSINESS,
    "trade_union": OrganisationKind.TRADE_UNION,
    "academic_research": OrganisationKind.ACADEMIC,
    "other": OrganisationKind.OTHER,
}
KIND_BASES = {
    "stated": KindBasis.STATED,
    "inferred_from_context": KindBasis.INFERRED,
    "unknown": KindBasis.UNKNOWN,
}
DOCUMENT_KINDS = {
    "discussion_note": DocumentKind.DISCUSSION_NOTE,
    "idm_background_paper": DocumentKind.BACKGROUND_PAPER,
    "background_paper": DocumentKind.BACKGROUND_PAPER,
    "policy_paper": DocumentKind.BACKGROUND_PAPER,
    "provisional_agenda": DocumentKind.AGENDA,
    "council_document": DocumentKind.COUNCIL_DOCUMENT,
    "report": DocumentKind.REPORT,
    "un_report": DocumentKind.REPORT,
    "report_series": DocumentKind.REPORT,
    "study": DocumentKind.REPORT,
    "workshop_report": DocumentKind.WORKSHOP_REPORT,
    "workshop_document_set": DocumentKind.WORKSHOP_DOCUMENTS,
    "slide_deck": DocumentKind.PRESENTATION,
    "opinion_note": DocumentKind.OPINION_NOTE,
    "cited_publication": DocumentKind.PUBLICATION,
    "conference_booklet": DocumentKind.PUBLICATION,
    "guide": DocumentKind.PUBLICATION,
    "tool": DocumentKind.PUBLICATION,
    "index": DocumentKind.PUBLICATION,
    "web_page": DocumentKind.PUBLICATION,
    "manifesto": DocumentKind.PUBLICATION,
    "policy_framework": DocumentKind.POLICY_FRAMEWORK,
    "national_strategy": DocumentKind.POLICY_FRAMEWORK,
    "national_plan": DocumentKind.POLICY_FRAMEWORK,
    "programme": DocumentKind.POLICY_FRAMEWORK,
    "treaty": DocumentKind.LEGAL_INSTRUMENT,
    "law": DocumentKind.LEGAL_INSTRUMENT,
    "declaration": DocumentKind.LEGAL_INSTRUMENT,
    "resolution": DocumentKind.LEGAL_INSTRUMENT,
    "recommendation_instrument": DocumentKind.LEGAL_INSTRUMENT,
}
WORKSHOP_KINDS = {
    "idm_intersessional_workshop": WorkshopKind.IDM_INTERSESSIONAL,
    "workshop": WorkshopKind.WORKSHOP,
    "seminar": WorkshopKind.SEMINAR,
    "expert_meeting": WorkshopKind.EXPERT_MEETING,
    "meeting": WorkshopKind.MEETING,
    "meeting_series": WorkshopKind.MEETING,
    "gfmd_meeting": WorkshopKind.MEETING,
    "ministerial_consultation": WorkshopKind.MEETING,
    "conference": WorkshopKind.CONFERENCE,
    "un_conference": WorkshopKind.CONFERENCE,
    "ministerial_conference": WorkshopKind.CONFERENCE,
    "un_high_level_dialogue": WorkshopKind.HIGH_LEVEL,
    "un_summit": WorkshopKind.HIGH_LEVEL,
    "training_course": WorkshopKind.TRAINING,
}
# The seeds' four "seed" documents are of 2005, the OECD booklet of 2013.
SEED_YEARS = {"000": 2005, "001": 2005, "002": 2005, "003": 2005, "004": 2013}

# Records the project adds around the dataset, each resting on what a seed states.
IDM_2005_SITTING = "mtg-idm-2005-cs-90"
CONSULTATIONS_2006 = "mtg-informal-consultations-2006"
ROUND_2006_WORKSHOPS = "workshop_topic"
ROUND_2006_THEME = "dialogue_theme"
GROUPS = [
    # (organisation dataset id, kind, convened by, memberships [(organisation, role, source)])
    ("org-iom-bab", GroupKind.ADVISORY_BOARD, "org-iom", []),
    ("org-geneva-migration-group", GroupKind.COORDINATION_GROUP, None, []),
    (
        "org-global-migration-group",
        GroupKind.COORDINATION_GROUP,
        None,
        [
            (
                "org-ohchr",
                MembershipRole.MEMBER,
                {"file": "004_58edd138e1d455b5.txt", "lines": "404"},
            )
        ],
    ),
    (
        "org-gmg-wg-hr-gender",
        GroupKind.WORKING_GROUP,
        "org-global-migration-group",
        [
            (org, MembershipRole.CO_CHAIR, {"file": "004_58edd138e1d455b5.txt", "lines": "535"})
            for org in ("org-ohchr", "org-un-women", "org-unicef")
        ],
    ),
]


class DatasetError(Exception):
    """The dataset file is missing or does not have the shape the loader expects."""


@dataclass
class LoadResult:
    created: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    def summary(self) -> str:
        names = sorted(set(self.created) | set(self.existing))
        parts = [f"{name}: {self.created[name]} new, {self.existing[name]} kept" for name in names]
        return "; ".join(parts)


def read_dataset(path: Path = DATASET_PATH) -> dict:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as error:
        raise DatasetError(f"dataset file not found: {path}") from error
    except json.JSONDecodeError as error:
        raise DatasetError(f"dataset file is not valid JSON: {path}: {error}") from error
    missing = [
        key for key in ("organisations", "council_sessions", "agenda_items") if key not in data
    ]
    if missing:
        raise DatasetError(f"dataset file lacks {', '.join(missing)}: {path}")
    return data


def _date(value: str | None) -> dt.date | None:
    if value and len(value) == 10:
        return dt.date.fromisoformat(value)
    return None


def _time(value: str | None) -> dt.time | None:
    return dt.time.fromisoformat(value) if value else None


def _text(*values) -> str:
    return "\n\n".join(str(v).strip() for v in values if v)


def _link(manager, objects: Iterable[models.Model]) -> None:
    """Add ``objects`` to a many-to-many relation of a new record (no query when there are none)."""
    objects = list(objects)
    if objects:
        manager.add(*objects)


def _sources(record: dict) -> dict:
    source = dict(record.get("source") or {})
    if record.get("additional_sources"):
        source["additional"] = record["additional_sources"]
    return source


class DatasetLoader:
    """Creates what is missing, in dependency order, inside one transaction."""

    def __init__(self, data: dict):
        self.data = data
        self.result = LoadResult()
        self.organisations: dict[str, Organisation] = {}
        self.people: dict[str, Person] = {}
        self.domains: dict[str, PolicyDomain] = {}
        self.dialogues: dict[str, Dialogue] = {}
        self.sessions: dict[str, CouncilSession] = {}
        self.documents: dict[str, Document] = {}
        self.workshops: dict[str, Workshop] = {}
        self.items: dict[str, AgendaItem] = {}
        self.proposals: dict[str, ThemeProposal] = {}
        self.recommendations: dict[str, Recommendation] = {}
        self._existing: dict[type[models.Model], dict[str, models.Model]] = {}
        self._created: dict[type[models.Model], list[models.Model]] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _ensure(self, model: type[models.Model], dataset_id: str, **fields):
        """The record with this dataset id, created with ``fields`` when it is not there yet.

        New records skip simple-history's per-save and per-relation rows while loading; each gets
        one "created" history row at the end (``_record_history``), which keeps a load fast.
        """
        if model not in self._existing:
            self._existing[model] = {
                obj.dataset_id: obj for obj in model.objects.filter(dataset_id__isnull=False)
            }
        obj = self._existing[model].get(dataset_id)
        if obj is not None:
            self.result.existing[model._meta.verbose_name_plural] += 1
            return obj, False
        obj = model(dataset_id=dataset_id, **fields)
        obj.skip_history_when_saving = True
        obj.save()
        self._existing[model][dataset_id] = obj
        self._created.setdefault(model, []).append(obj)
        self.result.created[model._meta.verbose_name_plural] += 1
        return obj, True

    def _record_history(self) -> None:
        for model, objects in self._created.items():
            for obj in objects:
                del obj.skip_history_when_saving
            manager = getattr(model, "history", None)
            if manager is not None:
                manager.bulk_history_create(
                    objects, default_change_reason="Loaded from the IDM seed dataset"
                )

    def _orgs(self, ids: Iterable[str]) -> list[Organisation]:
        return [self.organisations[i] for i in ids or [] if i in self.organisations]

    # -- steps -----------------------------------------------------------------------------
    def load(self) -> LoadResult:
        with transaction.atomic():
            self.load_organisations()
            self.load_groups()
            self.load_policy_domains()
            self.load_people()
            self.load_dialogues()
            self.load_council_sessions()
            self.load_meetings()
            self.load_workshops()
            self.load_documents()
            self.load_agenda()
            self.load_theme_proposals()
            self.load_recommendations()
            self._record_history()
        return self.result

    def load_organisations(self) -> None:
        records = self.data["organisations"]
        created = []
        for record in records:
            org, was_created = self._ensure(
                Organisation,
                record["id"],
                name=record["name"],
                acronym=record.get("acronym") or "",
                full_name=record.get("full_name") or "",
                kind=ORGANISATION_KINDS.get(record["type"], OrganisationKind.OTHER),
                kind_basis=KIND_BASES.get(record.get("type_basis"), KindBasis.UNKNOWN),
                country=record.get("country") or "",
                description=_text(record.get("description"), record.get("status")),
                notes=_text(
                    record.get("notes"),
                    record.get("alt_name") and f"Also known as: {record['alt_name']}",
                ),
                source=_sources(record),
            )
            self.organisations[record["id"]] = org
            if was_created:
                created.append(record)
        for record in created:
            parent_id = record.get("parent_organisation_id")
            if parent_id:
                org = self.organisations[record["id"]]
                org.parent = self.organisations[parent_id]
                org.save(update_fields=["parent", "updated_at"])

    def load_groups(self) -> None:
        for org_id, kind, convener, memberships in GROUPS:
            org = self.organisations.get(org_id)
            if org is None:
                continue
            group, _ = self._ensure(
                Group,
                f"group-{org_id}",
                name=org.name,
                acronym=org.acronym,
                kind=kind,
                organisation=org,
                convened_by=self.organisations.get(convener) if convener else None,
                description=org.description or org.notes,
                source=org.source,
            )
            for member_id, role, source in memberships:
                self._ensure(
                    GroupMembership,
                    f"membership-{org_id}-{member_id}",
                    group=group,
                    organisation=self.organisations[member_id],
                    role=role,
                    source=source,
                )

    def load_policy_domains(self) -> None:
        for record in self.data.get("policy_domains", []):
            domain, _ = self._ensure(
                PolicyDomain,
                record["id"],
                name=record["name"],
                slug=slugify(record["id"].removeprefix("pd-")),
                description=record.get("description") or "",
                related_acronyms=record.get("related_acronyms") or [],
                source=dict(_sources(record), listed_in=record.get("listed_in", [])),
            )
            self.domains[record["id"]] = domain

    def load_people(self) -> None:
        for record in self.data.get("people", []):
            person, created = self._ensure(
                Person,
                record["id"],
                honorific=record.get("honorific") or "",
                name=record["name"],
                title=record.get("title") or record.get("title_as_written") or "",
                organisation=self.organisations.get(record.get("organisation_id")),
                country=record.get("country") or "",
                notes=_text(record.get("notes")),
                source=_sources(record),
            )
            if created and record.get("other_organisation_ids"):
                _link(person.other_organisations, self._orgs(record["other_organisation_ids"]))
            self.people[record["id"]] = person

    def load_dialogues(self) -> None:
        for record in self.data.get("idm_sessions", []):
            status_text = record.get("status") or ""
            status = (
                DialogueStatus.HELD if status_text.startswith("held") else DialogueStatus.PROPOSED
            )
            dialogue, _ = self._ensure(
                Dialogue,
                record["id"],
                year=record["year"],
                theme=record["theme"],
                status=status,
                status_note=status_text[:255],
                theme_rationale=record.get("theme_rationale") or "",
                planning_note=record.get("planning_note") or "",
                source=_sources(record),
            )
            self.dialogues[record["id"]] = dialogue

    def _venue(self, name: str | None, city: str | None, country: str | None) -> Venue | None:
        if not name:
            return None
        venue, created = Venue.objects.get_or_create(
            name=name, city=city or "", defaults={"country": country or ""}
        )
        if created:
            self.result.created[Venue._meta.verbose_name_plural] += 1
        return venue

    def _room(self, venue: Venue | None, name: str | None) -> Room | None:
        if venue is None or not name:
            return None
        room, created = Room.objects.get_or_create(venue=venue, name=name)
        if created:
            self.result.created[Room._meta.verbose_name_plural] += 1
        return room

    def load_council_sessions(self) -> None:
        for record in self.data.get("council_sessions", []):
            venue = self._venue(record.get("venue"), record.get("city"), record.get("country"))
            session, _ = self._ensure(
                CouncilSession,
                record["id"],
                body=(
                    CouncilBody.COUNCIL
                    if record.get("body") == "Council"
                    else CouncilBody.EXECUTIVE_COMMITTEE
                ),
                number=record["number"],
                name=record["name"],
                is_special=bool(record.get("is_special")),
                start_date=_date(record.get("start_date")),
                end_date=_date(record.get("end_date")),
                venue=venue,
                room=self._room(venue, record.get("room")),
                dialogue=self.dialogues.get(record.get("idm_session_id")),
                notes=_text(record.get("notes")),
                source=_sources(record),
            )
            self.sessions[record["id"]] = session

    def load_meetings(self) -> None:
        """The IDM 2005 sitting at the Ninetieth Session and the 2006 informal consultations."""
        cs90 = self.sessions.get("cs-90")
        if cs90 is not None and "idm-2005" in self.dialogues:
            item5 = next(
                (i for i in self.data["agenda_items"] if i["id"] == "ag-90-05"), {"source": {}}
            )
            self._ensure(
                Meeting,
                IDM_2005_SITTING,
                kind=MeetingKind.IDM_SITTING,
                title="International Dialogue on Migration 2005 at the Ninetieth Session",
                dialogue=self.dialogues["idm-2005"],
                council_session=cs90,
                start_date=dt.date(2005, 11, 29),
                end_date=dt.date(2005, 11, 30),
                venue=cs90.venue,
                room=cs90.room,
                status=MeetingStatus.HELD,
                description="Agenda item 5 of the Council, sub-items (a) to (e).",
                source=item5["source"],
            )
        if "idm-2006" in self.dialogues:
            self._ensure(
                Meeting,
                CONSULTATIONS_2006,
                kind=MeetingKind.INFORMAL_CONSULTATION,
                title="IDM informal consultations on the 2006 theme and workshop topics",
                dialogue=self.dialogues["idm-2006"],
                status=MeetingStatus.PLANNED,
                description=(
                    "The membership is to select the 2006 IDM theme and two inter-sessional "
                    "workshop topics here; no date is given in the seed."
                ),
                source={
                    "file": "001_264f9eceb81ae7a7.txt",
                    "lines": "110-158",
                    "paragraph": "paras 10-12",
                },
            )

    def load_workshops(self) -> None:
        created = []
        for record in self.data.get("workshops", []):
            status_text = record.get("status") or ""
            if status_text == "held":
                status = WorkshopStatus.HELD
            elif status_text.startswith("scheduled"):
                status = WorkshopStatus.CONFIRMED
            else:
                status = WorkshopStatus.PLANNED
            attendance = record.get("attendance") or {}
            workshop, was_created = self._ensure(
                Workshop,
                record["id"],
                title=record.get("title") or "",
                acronym=record.get("acronym") or "",
                kind=WORKSHOP_KINDS.get(record["event_type"], WorkshopKind.MEETING),
                dialogue=self.dialogues.get(record.get("idm_session_id")),
                start_date=_date(record.get("start_date")),
                end_date=_date(record.get("end_date")),
                date_text=record.get("date_text") or "",
                venue=self._venue(record.get("venue"), record.get("city"), record.get("country")),
                city=record.get("city") or "",
                country=record.get("country") or "",
                status=status,
                status_note=status_text,
                attendance_total=attendance.get("total_approx"),
                attendance_text=_text(attendance.get("text"), record.get("participants_text")),
                description=record.get("description") or "",
                outcomes=record.get("outcomes") or [],
                notes=_text(
                    record.get("ordinal_text"),
                    record.get("notes"),
                    record.get("follow_up") and f"Follow-up: {record['follow_up']}",
                    record.get("idm_session_link_basis")
                    and f"Link to the dialogue: {record['idm_session_link_basis']}",
                ),
                source=_sources(record),
            )
            self.workshops[record["id"]] = workshop
            if was_created:
                created.append(record)
        for record in created:
            workshop = self.workshops[record["id"]]
            if record.get("follow_up_of"):
                workshop.follow_up_of = self.workshops.get(record["follow_up_of"])
                workshop.save(update_fields=["follow_up_of", "updated_at"])
            for key, role in (
                ("organiser_ids", PartnerRole.ORGANISER),
                ("partner_ids", PartnerRole.PARTNER),
                ("requested_by_ids", PartnerRole.REQUESTED_BY),
            ):
                for org in self._orgs(record.get(key)):
                    WorkshopPartner.objects.get_or_create(
                        workshop=workshop, organisation=org, role=role
                    )
            funding = record.get("funding")
            if funding and funding.get("funded_participants_approx"):
                participation = FundedParticipation.objects.create(
                    workshop=workshop,
                    funded_participants=funding["funded_participants_approx"],
                    participant_profile=funding.get("funded_participant_profile") or "",
                    text=funding.get("text") or "",
                )
                _link(participation.donors, self._orgs(funding.get("donor_ids")))

    def load_documents(self) -> None:
        created = []
        for record in self.data.get("documents", []):
            date_text = record.get("date") or ""
            publisher = "; ".join(
                p
                for p in (record.get("publisher"), record.get("journal"), record.get("series"))
                if p
            )
            document, was_created = self._ensure(
                Document,
                record["id"],
                symbol=record.get("symbol") or None,
                title=record["title"],
                kind=DOCUMENT_KINDS.get(record["doc_type"], DocumentKind.OTHER),
                date=_date(date_text),
                date_text=date_text if len(date_text) != 10 else "",
                year=record.get("year") or (int(date_text[:4]) if date_text else None),
                url=record.get("url") or "",
                status=(record.get("status") or "")[:255],
                authors_text="; ".join(record.get("authors") or [])[:500],
                dialogue=self.dialogues.get(record.get("idm_session_id")),
                council_session=self.sessions.get(record.get("council_session_id")),
                workshop=self.workshops.get(record.get("workshop_id")),
                publisher=publisher[:255],
                notes=_text(record.get("description"), record.get("purpose"), record.get("notes")),
                source=_sources(record),
            )
            self.documents[record["id"]] = document
            if was_created:
                created.append(record)
        for record in created:
            document = self.documents[record["id"]]
            _link(
                document.issuing_organisations, self._orgs(record.get("issuing_organisation_ids"))
            )
            _link(
                document.authors,
                [self.people[i] for i in record.get("person_ids") or [] if i in self.people],
            )
            if record.get("parent_document_id"):
                document.parent = self.documents.get(record["parent_document_id"])
                document.save(update_fields=["parent", "updated_at"])

    def load_agenda(self) -> None:
        """The Ninetieth Session's provisional agenda, item by item, with its time slots."""
        by_session: dict[str, list[dict]] = {}
        for record in self.data.get("agenda_items", []):
            by_session.setdefault(record["council_session_id"], []).append(record)
        for session_id, records in by_session.items():
            session = self.sessions[session_id]
            session_record = next(s for s in self.data["council_sessions"] if s["id"] == session_id)
            agenda = Agenda.objects.filter(council_session=session).first()
            if agenda is None:
                agenda = Agenda.objects.create(
                    council_session=session,
                    title="Provisional agenda",
                    state=AgendaState.PROVISIONAL,
                    document=self.documents.get(
                        session_record.get("provisional_agenda_document_id")
                    ),
                )
                self.result.created[Agenda._meta.verbose_name_plural] += 1
                new_agenda = True
            else:
                new_agenda = False
            for record in sorted(records, key=lambda r: r["sort_order"]):
                presenter = self.people.get(record.get("presenter_person_id"))
                item, created = self._ensure(
                    AgendaItem,
                    record["id"],
                    agenda=agenda,
                    parent=self.items.get(record.get("parent_item_id")),
                    number=record["item_number"],
                    sub_item=record.get("sub_item") or "",
                    position=record["sort_order"],
                    title=record["title"],
                    block_title=record.get("block_title") or "",
                    format=record.get("format") or "",
                    presenter_text=record.get("presenter_text") or "",
                    bullets=record.get("bullets") or [],
                    room=session.room,
                    dialogue=self.dialogues.get(record.get("idm_session_id")),
                    notes=_text(record.get("notes")),
                    source=_sources(record),
                )
                self.items[record["id"]] = item
                if not created:
                    continue
                if presenter:
                    item.presenters.add(presenter)
                _link(
                    item.documents,
                    [
                        self.documents[i]
                        for i in record.get("document_ids", [])
                        if i in self.documents
                    ],
                )
                AgendaSlot.objects.bulk_create(
                    AgendaSlot(
                        item=item,
                        day=_date(slot["date"]),
                        start_time=_time(slot.get("start_time")),
                        end_time=_time(slot.get("end_time")),
                        continued=bool(slot.get("continued")),
                        note=slot.get("note") or "",
                        position=index,
                    )
                    for index, slot in enumerate(record.get("slots", []))
                )
            if new_agenda:
                # The seed prints this agenda as published ("Provisional agenda"): version 1,
                # with no publication date or symbol, which the seed does not give.
                AgendaVersion.objects.create(
                    agenda=agenda,
                    number=1,
                    state=agenda.state,
                    symbol=agenda.document.symbol or "" if agenda.document else "",
                    published_at=None,
                    snapshot=agenda_snapshot(agenda),
                )

    def _round(self, kind: str) -> ProposalRound | None:
        dialogue = self.dialogues.get("idm-2006")
        if dialogue is None:
            return None
        is_workshop = kind == ROUND_2006_WORKSHOPS
        round_, created = ProposalRound.objects.get_or_create(
            target_year=2006,
            kind=ProposalKind.WORKSHOP_TOPIC if is_workshop else ProposalKind.DIALOGUE_THEME,
            defaults={
                "title": (
                    "Topics for the 2006 inter-sessional workshops"
                    if is_workshop
                    else "Theme of the 2006 International Dialogue on Migration"
                ),
                "dialogue": dialogue,
                "topics_to_select": 2 if is_workshop else 1,
                "decision_meeting": Meeting.objects.filter(dataset_id=CONSULTATIONS_2006).first(),
                "selection_process": (
                    "select two topics at the informal consultations"
                    if is_workshop
                    else (
                        "views of the membership sought; agreement sought at informal consultations"
                    )
                ),
            },
        )
        if created:
            self.result.created[ProposalRound._meta.verbose_name_plural] += 1
        return round_

    def load_theme_proposals(self) -> None:
        for record in self.data.get("theme_proposals", []):
            target = record.get("target") or ""
            if target == "IDM overall theme":
                kind, round_ = ProposalKind.DIALOGUE_THEME, self._round(ROUND_2006_THEME)
            elif target == "IDM inter-sessional workshop":
                kind, round_ = ProposalKind.WORKSHOP_TOPIC, self._round(ROUND_2006_WORKSHOPS)
            else:
                kind, round_ = ProposalKind.OTHER_FORUM, None
            status_text = record.get("status") or ""
            state = (
                ProposalState.SELECTED
                if status_text.startswith(("adopted", "decided"))
                else ProposalState.SUBMITTED
            )
            proposers = self._orgs(record.get("proposed_by_organisation_ids"))
            proposal, created = self._ensure(
                ThemeProposal,
                record["id"],
                title=record["title"],
                rationale=record.get("rationale_summary") or "",
                kind=kind,
                round=round_,
                target_year=record.get("target_year"),
                target_forum=record.get("target_forum") or "",
                target_text=target,
                proposing_organisation=proposers[0] if proposers else None,
                state=state,
                status_note=status_text,
                source=_sources(record),
            )
            self.proposals[record["id"]] = proposal
            if not created:
                continue
            _link(proposal.co_sponsors, proposers[1:])
            _link(
                proposal.proposed_by_people,
                [
                    self.people[i]
                    for i in record.get("proposed_by_person_ids", [])
                    if i in self.people
                ],
            )
            _link(
                proposal.policy_domains,
                [self.domains[i] for i in record.get("policy_domain_ids", []) if i in self.domains],
            )
            for index, entry in enumerate(record.get("history") or []):
                text = entry["event"]
                if "defer" in text:
                    kind_, year = ProposalEventKind.DEFERRED, record.get("target_year")
                elif "not endorsed" in text:
                    kind_, year = ProposalEventKind.NOT_ENDORSED, 2005
                else:
                    kind_, year = ProposalEventKind.NOTE, None
                self._ensure(
                    ProposalEvent,
                    f"{record['id']}#history-{index}",
                    proposal=proposal,
                    kind=kind_,
                    year=year,
                    text=text,
                    source=entry.get("source") or {},
                )
            self._ensure(
                ProposalEvent,
                f"{record['id']}#proposed",
                proposal=proposal,
                kind=ProposalEventKind.PROPOSED,
                year=record.get("target_year"),
                text=f"{target}: {status_text}",
                source=record.get("source") or {},
            )

    def load_recommendations(self) -> None:
        records = self.data.get("recommendations", [])
        counters: Counter = Counter()
        created_records = []
        for record in records:
            document = self.documents.get(record.get("document_id"))
            year = (document.year if document else None) or SEED_YEARS.get(
                record["source"]["file"][:3], 2005
            )
            counters[year] += 1
            source = record.get("source") or {}
            paragraph = ", ".join(p for p in (source.get("section"), source.get("paragraph")) if p)
            dataset_document = next(
                (d for d in self.data["documents"] if d["id"] == record.get("document_id")), {}
            )
            recommendation, created = self._ensure(
                Recommendation,
                record["id"],
                reference=f"IDM-{year}-R{counters[year]:03d}",
                text=record["text"],
                kind=record.get("recommendation_type") or "recommendation",
                state=RecommendationState.ADOPTED,
                document=document,
                dialogue=document.dialogue if document else None,
                council_session=document.council_session if document else None,
                workshop=document.workshop if document else None,
                agenda_item=self.items.get(dataset_document.get("agenda_item_id")),
                paragraph=paragraph[:255],
                made_by_person=self.people.get(record.get("made_by_person_id")),
                made_by_organisation=self.organisations.get(record.get("made_by_organisation_id")),
                made_by_text=record.get("made_by_text") or "",
                quoted_by=self.people.get(record.get("quoted_by_person_id")),
                addressed_to_text=(record.get("addressed_to_text") or "")[:255],
                notes=_text(record.get("notes")),
                source=_sources(record),
            )
            self.recommendations[record["id"]] = recommendation
            if created:
                created_records.append(record)
        assignments = []
        for record in created_records:
            recommendation = self.recommendations[record["id"]]
            _link(
                recommendation.policy_domains,
                [self.domains[i] for i in record.get("policy_domain_ids", []) if i in self.domains],
            )
            _link(
                recommendation.co_authors,
                [
                    self.people[i]
                    for i in record.get("co_author_person_ids", [])
                    if i in self.people
                ],
            )
            cited = [record.get("cited_document_id"), record.get("reported_in_document_id")]
            cited += record.get("cited_document_ids") or []
            cited += record.get("related_document_ids") or []
            _link(
                recommendation.cited_documents,
                [self.documents[i] for i in cited if i and i in self.documents],
            )
            if record.get("parent_recommendation_id"):
                recommendation.parent = self.recommendations.get(record["parent_recommendation_id"])
                recommendation.save(update_fields=["parent", "updated_at"])
            for org in self._orgs(record.get("addressed_to_organisation_ids")):
                assignments.append(
                    Assignment(
                        recommendation=recommendation, organisation=org, role=AssignmentRole.LEAD
                    )
                )
        if assignments:
            bulk_create_with_history(
                assignments,
                Assignment,
                default_change_reason="Loaded from the IDM seed dataset",
            )
            self.result.created[Assignment._meta.verbose_name_plural] += len(assignments)


def dataset_load(*, path: Path = DATASET_PATH) -> LoadResult:
    """Load the IDM dataset; what is already there is kept as it is."""
    result = DatasetLoader(read_dataset(path)).load()
    logger.debug("IDM dataset loaded: %s new records", result.total_created)
    return result
