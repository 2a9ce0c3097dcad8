#!/usr/bin/env bash
# Long fuzzing run of the API with Schemathesis, against a running server, as each role.
#
#   loadtests/fuzz_api.sh                       # http://127.0.0.1:8000, 1000 examples/operation
#   BASE_URL=http://127.0.0.1:8001 MAX_EXAMPLES=300 loadtests/fuzz_api.sh
#   SECRETARIAT_AUTH=officer:secret loadtests/fuzz_api.sh   # also fuzz as the secretariat
#
# The server must serve the same database as `manage.py` here (DATABASE_URL), loaded with
# `manage.py load_idm_data`. The script creates two API keys valid until the end of today
# ("fuzz delegation" for DELEGATION_ORG, "fuzz agency" for AGENCY_ORG, revoke them in the admin
# afterwards), then runs Schemathesis once per role: anonymous, delegation key, agency key and,
# when SECRETARIAT_AUTH (user:password of a secretariat login) is set, HTTP basic auth.
# Checks: no 5xx, documented status codes and content types, bodies matching the schema.
# Raise the server's throttling budget for the run (API_THROTTLE_RATE_KEY, _USER, _ANON,
# e.g. 100000/min) or the answers turn into (documented) 429s. Never against production: the
# fuzzer creates and changes proposals and reports. Reports go to var/fuzz/<role>/.
# Exit status: non-zero when any role's run found a failure.
set -euo pipefail

cd "$(dirname "$0")/.."
BASE_URL="${BASE_URL:-http://127.0.0.1:8000}"
MAX_EXAMPLES="${MAX_EXAMPLES:-1000}"
WORKERS="${WORKERS:-2}"
DELEGATION_ORG="${DELEGATION_ORG:-org-state-philippines}"
AGENCY_ORG="${AGENCY_ORG:-ILO}"
REPORT_DIR="${REPORT_DIR:-var/fuzz}"
SCHEMA_URL="$BASE_URL/api/v1/schema/"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

new_key() {
  uv run manage.py create_api_key --organisation "$1" --name "$2" --role "$3" \
    --expires "$(date +%F)" | tail -n 1
}

curl -fsS -o /dev/null "$SCHEMA_URL" || {
  echo "fuzz_api.sh: no schema at $SCHEMA_URL (is the server running?)" >&2
  exit 2
}
DELEGATION_KEY="$(new_key "$DELEGATION_ORG" "fuzz delegation" delegation)"
AGENCY_KEY="$(new_key "$AGENCY_ORG" "fuzz agency" agency)"

declare -a ROLES=(anonymous delegation agency)
[[ -n "${SECRETARIAT_AUTH:-}" ]] && ROLES+=(secretariat)

status=0
for role in "${ROLES[@]}"; do
  auth=()
  case "$role" in
    delegation) auth=(-H "Authorization: Api-Key $DELEGATION_KEY") ;;
    agency) auth=(-H "Authorization: Api-Key $AGENCY_KEY") ;;
    secretariat) auth=(--auth "$SECRETARIAT_AUTH") ;;
  esac
  echo "== $role: $MAX_EXAMPLES examples per operation"
  start=$SECONDS
  uv run schemathesis run "$SCHEMA_URL" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" \
    --workers "$WORKERS" \
    --mode all \
    --continue-on-failure \
    --report junit \
    --report-dir "$REPORT_DIR/$role" \
    "${auth[@]}" || status=1
  echo "== $role: $((SECONDS - start)) s"
done
exit "$status"
