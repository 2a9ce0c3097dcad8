"""Public pages of the dialogue: printable agendas, PDF, calendar feeds, exports."""

app_name = "idm"

urlpatterns = []
