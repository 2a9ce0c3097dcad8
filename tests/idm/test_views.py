from django.urls import reverse


def test_home_page_shows_each_dialogue_and_the_open_2006_round(idm_data, client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "2005: Towards Policy Coherence on Migration" in page
    assert "2003: Migration in a Globalizing World" in page
    assert "Held at the Council's Ninetieth Session, 29 November–2 December 2005" in page
    assert "Developing Capacity to Manage Migration" in page
    assert "Topics for the 2006 inter-sessional workshops" in page
    assert "2 topics will be selected" in page
    for topic in (
        "Migration and the Environment",
        "South/South Migration",
        "Migration of Healthcare Workers",
    ):
        assert topic in page
    assert "No closing date set yet." in page


def test_home_page_query_count_does_not_grow_with_the_data(
    idm_data, client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        assert client.get(reverse("home")).status_code == 200


def test_home_page_escapes_what_officers_type(idm_data, client):
    from idm.models import Dialogue

    Dialogue.objects.filter(year=2006).update(theme="<script>alert(1)</script>")
    page = client.get(reverse("home")).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
