import pytest
from django.core.management import call_command


@pytest.fixture
def idm_data(db):
    """The real 2005 IDM dataset, loaded with the project's own loader."""
    call_command("load_idm_data", verbosity=0)
