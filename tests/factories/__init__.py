"""factory_boy factories, one module per app: ``from tests.factories.idm import AgendaFactory``.

Every factory builds the smallest valid row: required foreign keys come from sub-factories,
unique fields from sequences, everything optional is left empty.
"""


def violated(name: str) -> dict[str, list[str]]:
    """The errors ``full_clean()`` reports for a broken constraint: its readable message only."""
    from django.apps import apps

    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if constraint.name == name:
                message = str(constraint.violation_error_message)
                assert "is violated" not in message, f"{name} has no readable message"
                return {"__all__": [message]}
    raise AssertionError(f"no constraint named {name}")
