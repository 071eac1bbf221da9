from conftest import PASSWORD


def test_login_page_renders_in_chinese_by_default(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="zh' in page and "登录" in page and "密码" in page
    assert "Log in" not in page and "Password" not in page


def test_login_with_wrong_password_is_refused(client, org):
    response = client.post("/login", data={"username": "staff_a", "password": "nope"})
    assert response.status_code == 200
    assert b"/logout" not in response.data


def test_login_and_logout(client, org):
    response = client.post("/login", data={"username": "staff_a", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/profile").status_code == 200
    client.post("/logout")
    assert client.get("/profile").status_code == 302
