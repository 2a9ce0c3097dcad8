"""The API's documentation page works in a browser under the site's Content-Security-Policy."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_page_shows_every_operation_without_a_blocked_script(new_page):
    page = new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    response = page.goto("/api/v1/docs/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 30
    assert page.get_by_text("/api/v1/reports/").first.is_visible()
    assert errors == []
