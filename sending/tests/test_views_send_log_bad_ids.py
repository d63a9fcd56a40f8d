"""A message page whose id holds a NUL is refused before the view runs (400, sesconsole.middleware):
PostgreSQL refuses NUL in a query, and the page used to answer 500. Found by
tests/resilience/test_bad_input_forms.py."""

import pytest


@pytest.mark.parametrize("message_id", ["%00", "a%00b", "%00" * 40])
def test_a_nul_in_the_message_id_is_refused(client, owner, message_id):
    client.force_login(owner)

    response = client.get(f"/log/{message_id}/")

    assert response.status_code == 400
    assert "<strong>the page address</strong> contains U+0000" in response.content.decode()
