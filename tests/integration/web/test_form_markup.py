"""Form fields carry accessibility attributes only when they mean something."""

from __future__ import annotations

from tests.conftest import csrf_from


def test_a_clean_field_has_no_empty_aria_attributes(test_client):
    html = test_client.get("/login").get_data(as_text=True)

    assert '="None"' not in html
    assert "aria-invalid" not in html


def test_a_field_with_an_error_points_at_its_messages(test_client):
    token = csrf_from(test_client.get("/register").get_data(as_text=True))

    html = test_client.post("/register", data={"csrf_token": token, "email": "not-an-address", "password": ""}).get_data(
        as_text=True
    )

    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-errors"' in html and 'id="email-errors"' in html
