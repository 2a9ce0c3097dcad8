"""What each role may do with each URL: the table ``tests/test_permission_walk.py`` walks.

One row per URL (a target: the path template, and after ``@`` which object of delegation A or
agency A fills its parameters) and methods, then the outcome for each role:

========  =================================================================================
``ok``    allowed: 2xx or 304; a redirect to anything but a login page (a portal form that
          succeeded, a logout)
``bad``   400: allowed in, but the minimal body (``{}``) is invalid or a domain rule refused it
``deny``  401 or 403, a redirect to a login page, or a portal button answered by a redirect
          with an error message
``hide``  404: the caller may not know the object exists (another delegation's draft, another
          agency's unaccepted report) or there is no such thing for it
``n/a``   405: the URL does not take this method
========  =================================================================================

``*`` in the methods column stands for every method not named in the URL's other rows. Roles:
anonymous (``anon``), the delegates of member states A and B (``delA``, ``delB``), the focal
points of agencies A and B (``agA``, ``agB``) and a secretariat officer (``sec``). On the API
the delegations and agencies are also walked with their API keys, against the same column.
"""

from __future__ import annotations

ROLES = ("anonymous", "delegation_a", "delegation_b", "agency_a", "agency_b", "secretariat")
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
CLASSES = ("ok", "bad", "deny", "hide", "n/a")

TABLE = """
# target                                           methods          anon delA delB agA  agB  sec

# Public pages: anyone reads. The views answer any method with the page (nothing is written).
/                                                  *                ok   ok   ok   ok   ok   ok

# Login pages (django.contrib.auth): password change only once logged in.
/accounts/login/                                   PATCH,DELETE     n/a  n/a  n/a  n/a  n/a  n/a
/accounts/login/                                   *                ok   ok   ok   ok   ok   ok
/accounts/logout/                                  OPTIONS,POST     ok   ok   ok   ok   ok   ok
/accounts/logout/                                  *                n/a  n/a  n/a  n/a  n/a  n/a
/accounts/password_change/                         PATCH,DELETE     deny n/a  n/a  n/a  n/a  n/a
/accounts/password_change/                         *                deny ok   ok   ok   ok   ok
/accounts/password_change/done/                    GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/accounts/password_change/done/                    *                deny n/a  n/a  n/a  n/a  n/a
/accounts/password_reset/                          PATCH,DELETE     n/a  n/a  n/a  n/a  n/a  n/a
/accounts/password_reset/                          *                ok   ok   ok   ok   ok   ok
/accounts/password_reset/done/                     GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/accounts/password_reset/done/                     *                n/a  n/a  n/a  n/a  n/a  n/a
/accounts/reset/done/                              GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/accounts/reset/done/                              *                n/a  n/a  n/a  n/a  n/a  n/a
/accounts/reset/{uidb64}/{token}/                  *                ok   ok   ok   ok   ok   ok

# API root, schema and docs: public. Anonymous writes are 401 before the 405.
/api/v1/                                           GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/                                           *                deny n/a  n/a  n/a  n/a  n/a

# Recommendations API: representatives read adopted recommendations, their assignments and
# accepted reports; agency A also its own reports in every state. Only the addressed agency
# reports (secretariat: 403), attaches evidence, resubmits; answering: it and the secretariat.
# What a role may not see is 404; seen but not changed, 403; anonymous 401.
/api/v1/assignments/                               GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/api/v1/assignments/                               *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/assignments/{pk}/@adopted                  POST,PUT,DELETE  deny n/a  n/a  n/a  n/a  n/a
/api/v1/assignments/{pk}/@adopted                  PATCH            deny deny deny bad  deny bad
/api/v1/assignments/{pk}/@adopted                  *                deny ok   ok   ok   ok   ok
/api/v1/assignments/{pk}/@draft                    GET,HEAD         deny hide hide hide hide ok
/api/v1/assignments/{pk}/@draft                    OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/assignments/{pk}/@draft                    PATCH            deny hide hide hide hide bad
/api/v1/assignments/{pk}/@draft                    *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/assignments/{pk}/follow-ups/@adopted       OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/assignments/{pk}/follow-ups/@adopted       POST             deny deny deny bad  deny deny
/api/v1/assignments/{pk}/follow-ups/@adopted       *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/assignments/{pk}/follow-ups/@draft         OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/assignments/{pk}/follow-ups/@draft         POST             deny hide hide hide hide deny
/api/v1/assignments/{pk}/follow-ups/@draft         *                deny n/a  n/a  n/a  n/a  n/a

# Reference data and meetings: public and read-only.
/api/v1/dialogues/                                 GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/dialogues/                                 *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/dialogues/{year}/                          GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/dialogues/{year}/                          *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/docs/                                      GET,HEAD         ok   ok   ok   ok   ok   ok
/api/v1/docs/                                      OPTIONS          n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/docs/                                      *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/evidence/{pk}/download/@submitted          GET,HEAD         deny hide hide ok   hide ok
/api/v1/evidence/{pk}/download/@submitted          OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/evidence/{pk}/download/@submitted          *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/evidence/{pk}/download/@accepted           GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/api/v1/evidence/{pk}/download/@accepted           *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/                                GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/api/v1/follow-ups/                                *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/@submitted                 GET,HEAD         deny hide hide ok   hide ok
/api/v1/follow-ups/{pk}/@submitted                 OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/@submitted                 *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/@returned                  GET,HEAD         deny hide hide ok   hide ok
/api/v1/follow-ups/{pk}/@returned                  OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/@returned                  *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/@accepted                  GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/@accepted                  *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/evidence/@submitted        OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/evidence/@submitted        POST             deny hide hide bad  hide deny
/api/v1/follow-ups/{pk}/evidence/@submitted        *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/evidence/@returned         OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/evidence/@returned         POST             deny hide hide bad  hide deny
/api/v1/follow-ups/{pk}/evidence/@returned         *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/evidence/@accepted         OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/evidence/@accepted         POST             deny deny deny deny deny deny
/api/v1/follow-ups/{pk}/evidence/@accepted         *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/resubmit/@submitted        OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/resubmit/@submitted        POST             deny hide hide deny hide deny
/api/v1/follow-ups/{pk}/resubmit/@submitted        *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/resubmit/@returned         OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/resubmit/@returned         POST             deny hide hide ok   hide deny
/api/v1/follow-ups/{pk}/resubmit/@returned         *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/follow-ups/{pk}/resubmit/@accepted         OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/follow-ups/{pk}/resubmit/@accepted         POST             deny deny deny deny deny deny
/api/v1/follow-ups/{pk}/resubmit/@accepted         *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/meetings/                                  GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/meetings/                                  *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/meetings/{id}/                             GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/meetings/{id}/                             *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/meetings/{id}/agenda/                      GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/meetings/{id}/agenda/                      *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/organisations/                             GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/organisations/                             *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/organisations/{pk}/                        GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/organisations/{pk}/                        *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/policy-domains/                            GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/policy-domains/                            *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/policy-domains/{slug}/                     GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/policy-domains/{slug}/                     *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/proposal-rounds/                           GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/proposal-rounds/                           *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/proposal-rounds/{pk}/                      GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/proposal-rounds/{pk}/                      *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/recommendations/                           GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/api/v1/recommendations/                           *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/recommendations/{reference}/@adopted       GET,HEAD,OPTIONS deny ok   ok   ok   ok   ok
/api/v1/recommendations/{reference}/@adopted       *                deny n/a  n/a  n/a  n/a  n/a
/api/v1/recommendations/{reference}/@draft         GET,HEAD         deny hide hide hide hide ok
/api/v1/recommendations/{reference}/@draft         OPTIONS          deny ok   ok   ok   ok   ok
/api/v1/recommendations/{reference}/@draft         *                deny n/a  n/a  n/a  n/a  n/a

# Follow-up report runs: the secretariat only (403 for every other login).
/api/v1/reports/                                   PUT,PATCH,DELETE deny deny deny deny deny n/a
/api/v1/reports/                                   *                deny deny deny deny deny ok
/api/v1/reports/{pk}/                              GET,HEAD,OPTIONS deny deny deny deny deny ok
/api/v1/reports/{pk}/                              *                deny deny deny deny deny n/a
/api/v1/reports/{pk}/csv/                          GET,HEAD,OPTIONS deny deny deny deny deny ok
/api/v1/reports/{pk}/csv/                          *                deny deny deny deny deny n/a
/api/v1/reports/{pk}/html/                         GET,HEAD,OPTIONS deny deny deny deny deny ok
/api/v1/reports/{pk}/html/                         *                deny deny deny deny deny n/a
/api/v1/reports/{pk}/xlsx/                         GET,HEAD,OPTIONS deny deny deny deny deny ok
/api/v1/reports/{pk}/xlsx/                         *                deny deny deny deny deny n/a
/api/v1/schema/                                    GET,HEAD,OPTIONS ok   ok   ok   ok   ok   ok
/api/v1/schema/                                    *                n/a  n/a  n/a  n/a  n/a  n/a

# Theme proposals (API): everyone reads submitted ones; drafts only delegation A and the
# secretariat (404 for others). Delegations propose; only A edits, submits, withdraws its own;
# B supports A's submitted one. The secretariat may read but not act (403).
/api/v1/theme-proposals/                           POST             deny bad  bad  deny deny deny
/api/v1/theme-proposals/                           PUT,PATCH,DELETE n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/                           *                ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/@draft                GET,HEAD         hide ok   hide hide hide ok
/api/v1/theme-proposals/{pk}/@draft                OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/@draft                PATCH            hide ok   hide hide hide deny
/api/v1/theme-proposals/{pk}/@draft                *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/@submitted            POST,PUT,DELETE  n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/@submitted            PATCH            deny ok   deny deny deny deny
/api/v1/theme-proposals/{pk}/@submitted            *                ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/submit/@draft         OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/submit/@draft         POST             hide ok   hide hide hide deny
/api/v1/theme-proposals/{pk}/submit/@draft         *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/submit/@submitted     OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/submit/@submitted     POST             deny deny deny deny deny deny
/api/v1/theme-proposals/{pk}/submit/@submitted     *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/support/@draft        OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/support/@draft        POST             hide deny hide hide hide deny
/api/v1/theme-proposals/{pk}/support/@draft        *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/support/@submitted    OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/support/@submitted    POST             deny deny ok   deny deny deny
/api/v1/theme-proposals/{pk}/support/@submitted    *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/unsupport/@draft      OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/unsupport/@draft      POST             hide deny hide hide hide deny
/api/v1/theme-proposals/{pk}/unsupport/@draft      *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/unsupport/@submitted  OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/unsupport/@submitted  POST             deny deny deny deny deny deny
/api/v1/theme-proposals/{pk}/unsupport/@submitted  *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/withdraw/@draft       OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/withdraw/@draft       POST             hide ok   hide hide hide deny
/api/v1/theme-proposals/{pk}/withdraw/@draft       *                n/a  n/a  n/a  n/a  n/a  n/a
/api/v1/theme-proposals/{pk}/withdraw/@submitted   OPTIONS          ok   ok   ok   ok   ok   ok
/api/v1/theme-proposals/{pk}/withdraw/@submitted   POST             deny ok   deny deny deny deny
/api/v1/theme-proposals/{pk}/withdraw/@submitted   *                n/a  n/a  n/a  n/a  n/a  n/a

# Public agendas, calendars and exports.
/calendar.ics                                      *                ok   ok   ok   ok   ok   ok
/events/{event_key}/agenda-export.{fmt}            *                ok   ok   ok   ok   ok   ok
/events/{event_key}/agenda.pdf                     *                ok   ok   ok   ok   ok   ok
/events/{event_key}/agenda/                        *                ok   ok   ok   ok   ok   ok
/events/{event_key}/calendar.ics                   *                ok   ok   ok   ok   ok   ok

# Evidence download (browser): like the report; anonymous to the login page.
/evidence/{pk}/download/@submitted                 GET,HEAD         deny hide hide ok   hide ok
/evidence/{pk}/download/@submitted                 *                n/a  n/a  n/a  n/a  n/a  n/a
/evidence/{pk}/download/@accepted                  GET,HEAD         deny ok   ok   ok   ok   ok
/evidence/{pk}/download/@accepted                  *                n/a  n/a  n/a  n/a  n/a  n/a

# Health check: GET and HEAD for anyone.
/healthz                                           GET,HEAD         ok   ok   ok   ok   ok   ok
/healthz                                           *                n/a  n/a  n/a  n/a  n/a  n/a

# The delegation portal: logins only for pages about one's delegation; proposals as in the
# API (404 for another delegation's draft, 403 or a redirect with an error for what a role
# may see but not do). Participants' names: staff only.
/my-delegation/                                    *                deny ok   ok   ok   ok   ok
/proposals/{pk}/@draft                             *                hide ok   hide hide hide ok
/proposals/{pk}/@submitted                         *                ok   ok   ok   ok   ok   ok
/proposals/{pk}/edit/@draft                        *                deny ok   hide hide hide deny
/proposals/{pk}/edit/@submitted                    *                deny ok   deny deny deny deny
/proposals/{pk}/submit/@draft                      POST             deny ok   hide hide hide deny
/proposals/{pk}/submit/@draft                      *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/submit/@submitted                  POST             deny deny deny deny deny deny
/proposals/{pk}/submit/@submitted                  *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/support/@draft                     POST             deny deny hide hide hide deny
/proposals/{pk}/support/@draft                     *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/support/@submitted                 POST             deny deny ok   deny deny deny
/proposals/{pk}/support/@submitted                 *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/unsupport/@draft                   POST             deny deny hide hide hide deny
/proposals/{pk}/unsupport/@draft                   *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/unsupport/@submitted               POST             deny deny deny deny deny deny
/proposals/{pk}/unsupport/@submitted               *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/withdraw/@draft                    POST             deny ok   hide hide hide deny
/proposals/{pk}/withdraw/@draft                    *                n/a  n/a  n/a  n/a  n/a  n/a
/proposals/{pk}/withdraw/@submitted                POST             deny ok   deny deny deny deny
/proposals/{pk}/withdraw/@submitted                *                n/a  n/a  n/a  n/a  n/a  n/a
/rounds/                                           *                ok   ok   ok   ok   ok   ok
/rounds/{pk}/                                      *                ok   ok   ok   ok   ok   ok
/rounds/{pk}/propose/                              *                deny ok   ok   deny deny deny
/workshops/{pk}/participants.{fmt}                 *                deny deny deny deny deny ok
"""


def parse_table(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """{(target, METHOD): {role: class}} from ``TABLE``; ``*`` rows fill the methods left."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    pending_star: list[tuple[str, dict[str, str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        target, methods, *classes = line.split()
        if len(classes) != len(ROLES) or not set(classes) <= set(CLASSES):
            raise ValueError(f"permission table, line {number}: {line!r}")
        row = dict(zip(ROLES, classes, strict=True))
        if methods == "*":
            pending_star.append((target, row))
            continue
        for method in methods.split(","):
            if method not in METHODS or (target, method) in rows:
                raise ValueError(f"permission table, line {number}: {method} {target}")
            rows[target, method] = row
    for target, row in pending_star:
        for method in METHODS:
            rows.setdefault((target, method), row)
    return rows
