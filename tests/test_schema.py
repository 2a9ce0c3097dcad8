import json
import subprocess
import sys
from pathlib import Path

import yaml
from drf_spectacular.validation import validate_schema

API_PATHS = {"/api/v1/meetings/", "/api/v1/meetings/{id}/", "/api/v1/meetings/{id}/agenda/"}
BASE_DIR = Path(__file__).resolve().parent.parent


def test_schema_is_valid_openapi_3_in_json(db, client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    assert set(schema["paths"]) >= API_PATHS


def test_schema_is_valid_openapi_3_in_yaml(db, client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate_schema(schema)
    assert set(schema["paths"]) >= API_PATHS


def test_meetings_api_is_read_only_in_the_schema(db, client):
    paths = json.loads(client.get("/api/v1/schema/?format=json").content)["paths"]
    for path in API_PATHS:
        assert set(paths[path]) == {"get"}, path


def test_meetings_schema_types_every_field(db, client):
    components = json.loads(client.get("/api/v1/schema/?format=json").content)["components"]
    schemas = components["schemas"]
    for name in ("Meeting", "AgendaVersion", "AgendaDay", "AgendaEntry"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} is not documented"
    meeting = schemas["Meeting"]["properties"]
    assert meeting["year"]["type"] == "integer"
    assert meeting["start_date"]["format"] == "date"
    assert meeting["links"]["allOf"][0]["$ref"] == "#/components/schemas/MeetingLinks"
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in meeting["kind"]["allOf"]}
    assert set(schemas[kinds.pop()]["enum"]) == {
        "council_session",
        "idm_sitting",
        "informal_consultation",
        "workshop",
    }


def test_swagger_ui_is_served(db, client):
    assert client.get("/api/v1/docs/").status_code == 200


def test_spectacular_generates_the_schema_without_warnings(tmp_path):
    # A separate process: drf-spectacular reports each warning once per process.
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert set(schema["paths"]) >= API_PATHS
