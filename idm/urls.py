"""Public pages of the dialogue: printable agendas, PDF, calendar feeds, exports."""

from django.urls import path

from . import views

app_name = "idm"

urlpatterns = [
    path("events/<str:event_key>/agenda/", views.agenda_print, name="agenda-print"),
    path("events/<str:event_key>/agenda.pdf", views.agenda_pdf, name="agenda-pdf"),
    path(
        "events/<str:event_key>/agenda-export.<str:fmt>",
        views.agenda_export,
        name="agenda-export",
    ),
    path("events/<str:event_key>/calendar.ics", views.event_ical, name="event-ical"),
    path("calendar.ics", views.calendar_ical, name="calendar-ical"),
    path(
        "workshops/<int:pk>/participants.<str:fmt>",
        views.participants_export,
        name="participants-export",
    ),
]
