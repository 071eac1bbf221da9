"""Junk in URLs and query strings answers 404/200 with a message, never a 500, on both backends."""

import pytest

HUGE = "99999999999999999999"


@pytest.mark.parametrize("path", [
    f"/tasks/{HUGE}", f"/problems/{HUGE}", f"/evidence/{HUGE}", f"/problems/{HUGE}/edit",
    f"/admin/users/{HUGE}/edit", f"/admin/units/{HUGE}/edit", "/tasks/2147483648",
])
def test_ids_beyond_a_database_integer_answer_404(client, org, login_as, path):
    login_as(org.admin)
    assert client.get(path).status_code == 404


def test_api_ids_beyond_a_database_integer_answer_404_json(client, org):
    response = client.get(f"/api/v1/tasks/{HUGE}")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["/tasks?q=a%00b", "/problems?q=a%00b", "/tasks.csv?q=a%00b",
                                  "/responsibilities?q=%00"])
def test_nul_in_search_text_is_ignored(client, org, login_as, path):
    login_as(org.mgr_a)
    assert client.get(path).status_code == 200
