"""Admin of reminder rules and reminders (filled in with the reminder services)."""
