"""推送渠道 on the web: who may open each page, the editor (the address and the secret never shown
again, a blank one kept, errors beside their fields), deleting, the test button against the local
robot receivers, an edit of an old copy, CSRF, and the list's query count."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from robot_receivers import DING_SECRET, DING_TOKEN, WECOM_BAD_KEY, WECOM_KEY

from tracker.channels import secrets, services, summaries
from tracker.channels.models import UnitChannel
from tracker.channels.services import Values
from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders.models import Notification
from tracker.reminders.models import NotificationKind as Kind

WECOM_URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"  # checked, never called


def form(**changes) -> dict:
    """The editor's fields as a browser sends them; a value of None leaves a field (a checkbox) out."""
    data = {"name": "第一党支部工作群", "kind": "wecom", "url": WECOM_URL, "secret": "", "language": "zh_CN",
            "daily": "y", "weekly": "y", "escalations": "y", "notices": "y", "active": "y"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def add(actor, unit, url, clock, kind="wecom", secret=None, name=None, **flags) -> UnitChannel:
    channel = services.create(actor, unit, Values(name=name or f"{unit.name}{kind}群", kind=kind, url=url,
                                                  secret=secret, **flags), clock)
    db.session.commit()
    return channel


def version_in(html: str) -> str:
    return re.search(r'name="version" type="hidden" value="(\d+)"', html).group(1)


def channels() -> list[UnitChannel]:
    db.session.expire_all()
    return db.session.scalars(sa.select(UnitChannel).order_by(UnitChannel.id)).all()


# --- who may do what ------------------------------------------------------------------------------


@pytest.mark.parametrize("who, refused", [
    ("admin", None), ("mgr_root", None), ("mgr_a", None),
    ("mgr_b", 404), ("staff_a", 403), ("viewer_root", 403),
])
def test_who_may_use_each_page_of_unit_as_channels(client, org, login_as, receivers, clock, who, refused):
    channel = add(org.mgr_a, org.a, receivers.url("wecom"), clock)
    user = org.users[who]
    login_as(user)
    listing = client.get("/channels")
    home = client.get("/").get_data(as_text=True)
    if user.role.value in ("admin", "manager"):
        assert listing.status_code == 200 and 'id="channels-link"' in home
        assert (f'data-channel="{channel.id}"' in listing.get_data(as_text=True)) == (refused is None)
    else:
        assert listing.status_code == 403 and 'id="channels-link"' not in home

    pages = [
        ("get", f"/units/{org.a.id}/channels/new", None, 200),
        ("post", f"/units/{org.a.id}/channels/new", form(name="新群", url=receivers.url("wecom")), 302),
        ("get", f"/channels/{channel.id}/edit", None, 200),
        ("post", f"/channels/{channel.id}/edit", form(name="改名", url="", version=channel.version), 302),
        ("post", f"/channels/{channel.id}/test", None, 302),
        ("post", f"/channels/{channel.id}/delete", None, 302),
    ]
    for method, path, data, allowed in pages:
        response = getattr(client, method)(path, data=data)
        assert response.status_code == (refused or allowed), (method, path)
    if refused:
        assert [c.name for c in channels()] == ["第一党支部wecom群"] and receivers.received == []
    else:
        assert [c.name for c in channels()] == ["新群"] and len(receivers.of("wecom")) == 1

    # No such unit or channel, or an id beyond the database's integer: 404 for everyone.
    assert client.get("/units/999999/channels/new").status_code == 404
    assert client.get(f"/units/{2**40}/channels/new").status_code == 404
    assert client.get("/channels/999999/edit").status_code == 404
    assert client.post(f"/channels/{2**40}/test").status_code == 404
    assert client.get(f"/channels/{channel.id}/edit").status_code == (refused or 404)  # 404: deleted above


@pytest.mark.parametrize("who, unit, status", [
    ("mgr_a", "a1", 200), ("mgr_a", "root", 404), ("mgr_a", "b", 404), ("viewer_b", "b", 403),
    ("staff_a1", "a1", 403),
])
def test_a_unit_above_or_beside_is_out_of_reach(client, org, login_as, who, unit, status):
    login_as(org.users[who])
    assert client.get(f"/units/{org.units[unit].id}/channels/new").status_code == status


def test_the_unit_picker_offers_the_units_one_manages_and_leads_to_the_form(client, org, login_as):
    login_as(org.mgr_a)
    html = client.get("/channels").get_data(as_text=True)
    offered = re.findall(r'<option value="(\d+)"', html)
    assert offered == [str(org.a.id), str(org.a1.id)] and 'id="no-channels"' in html
    picked = client.get(f"/channels/new?unit={org.a1.id}")
    assert picked.status_code == 302 and picked.location.endswith(f"/units/{org.a1.id}/channels/new")
    assert client.get(f"/channels/new?unit={org.b.id}", follow_redirects=True).status_code == 404
    assert client.get("/channels/new?unit=x").status_code == 404


# --- the editor -----------------------------------------------------------------------------------


def test_a_manager_adds_a_channel_through_the_form(client, org, login_as):
    login_as(org.mgr_a)
    page = client.get(f"/units/{org.a.id}/channels/new").get_data(as_text=True)
    assert re.search(r'<input[^>]*autocomplete="off"[^>]*name="url"[^>]*value=""', page)
    assert re.search(r'<input[^>]*name="secret" type="password" value=""', page)
    assert re.search(r'<input checked[^>]*name="daily" type="checkbox"', page)  # on by default
    saved = client.post(f"/units/{org.a.id}/channels/new", data=form(daily=None, language="en"))
    assert saved.status_code == 302 and saved.location.endswith("/channels")
    (channel,) = channels()
    assert (channel.unit_id, channel.kind.value, channel.name, channel.language) == (
        org.a.id, "wecom", "第一党支部工作群", "en")
    assert (channel.daily, channel.weekly, channel.escalations, channel.notices, channel.active) == (
        False, True, True, True, True)
    assert WECOM_KEY not in channel.url_encrypted and secrets.decrypt(channel.url_encrypted) == WECOM_URL
    assert channel.url_hint == "https://qyapi.weixin.qq.com/…" + WECOM_KEY[-4:] and not channel.has_secret
    listing = client.get("/channels").get_data(as_text=True)
    assert "alert-success" in listing and channel.url_hint in listing and WECOM_KEY not in listing
    row = re.search(rf'<tr data-channel="{channel.id}".*?</tr>', listing, re.S).group(0)
    assert 'data-secret="no"' in row and "English" in row and 'data-test-ok' not in row


def test_editing_keeps_the_address_and_secret_when_left_blank_and_never_shows_them(
        client, org, login_as, receivers, clock):
    url = receivers.url("dingtalk")
    channel = add(org.mgr_a, org.a, url, clock, kind="dingtalk", secret=DING_SECRET)
    login_as(org.mgr_a)
    page = client.get(f"/channels/{channel.id}/edit").get_data(as_text=True)
    assert DING_TOKEN not in page and DING_SECRET not in page
    assert channel.url_hint in page and 'value="第一党支部dingtalk群"' in page

    saved = client.post(f"/channels/{channel.id}/edit", data=form(
        kind="dingtalk", name="支部群", url="", secret="", notices=None, version=version_in(page)))
    assert saved.status_code == 302
    (channel,) = channels()
    assert channel.name == "支部群" and channel.notices is False and channel.version == 2
    assert secrets.decrypt(channel.url_encrypted) == url
    assert secrets.decrypt(channel.secret_encrypted) == DING_SECRET
    # A refused save does not echo what was typed either.
    typed_url, typed_secret = url + "&x=typed-token", "SECtyped-secret-0001"
    refused = client.post(f"/channels/{channel.id}/edit", data=form(
        kind="dingtalk", name="", url=typed_url, secret=typed_secret, version="2"))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'data-error-for="name"' in html
    assert "typed-token" not in html and typed_secret not in html and DING_SECRET not in html
    # And the kept address and secret still sign a message the receiver accepts.
    assert client.post(f"/channels/{channel.id}/test").status_code == 302
    assert len(receivers.of("dingtalk")) == 1, receivers.refused


@pytest.mark.parametrize("changes, field, says", [
    ({"url": "https://example.com/cgi-bin/webhook/send?key=k"}, "url", "qyapi.weixin.qq.com"),
    ({"url": ""}, "url", None),
    ({"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t"}, "secret", "钉钉"),
    ({"kind": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/t"}, "secret", None),
    ({"kind": "pigeon"}, "kind", "wecom"),
    ({"name": "  "}, "name", None),
    ({"name": "群" * 81}, "name", "80"),
    ({"name": "群\x00"}, "name", None),  # PostgreSQL cannot store it: refused, not a database error
    ({"language": "fr"}, "language", "zh_CN"),
])
def test_refused_values_show_at_their_field_with_422(client, org, login_as, changes, field, says):
    login_as(org.mgr_a)
    response = client.post(f"/units/{org.a.id}/channels/new", data=form(**changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = re.findall(r'data-error-for="(\w+)">([^<]*)<', html)
    assert [name for name, _ in errors] == [field], errors
    if says:
        assert says in errors[0][1]
    assert channels() == []


def test_a_second_channel_of_the_same_name_is_refused_at_the_name(client, org, login_as, clock):
    add(org.mgr_a, org.a, WECOM_URL, clock, name="工作群")
    login_as(org.mgr_a)
    response = client.post(f"/units/{org.a.id}/channels/new", data=form(name="工作群"))
    assert response.status_code == 422 and 'data-error-for="name"' in response.get_data(as_text=True)
    assert client.post(f"/units/{org.a1.id}/channels/new", data=form(name="工作群")).status_code == 302


def test_an_edit_of_an_old_copy_answers_409_and_keeps_the_newer_values(client, org, login_as, clock):
    channel = add(org.mgr_a, org.a, WECOM_URL, clock)
    login_as(org.mgr_a)
    page = client.get(f"/channels/{channel.id}/edit").get_data(as_text=True)
    services.update(org.mgr_root, channel, Values(name="局长改的"), clock)
    db.session.commit()
    response = client.post(f"/channels/{channel.id}/edit", data=form(name="我改的", version=version_in(page)))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "alert-danger" in html and 'id="channel-form"' in html
    assert [c.name for c in channels()] == ["局长改的"]
    junk = client.post(f"/channels/{channel.id}/edit", data=form(name="我改的", version="x"))
    assert junk.status_code == 409  # a missing or junk version is stale, never "no check"


def test_two_editors_at_once_the_second_write_answers_409(client, org, login_as, clock, monkeypatch):
    """Both pages held the same version; the other save lands between this one's check and its write."""
    channel = add(org.mgr_a, org.a, WECOM_URL, clock)
    login_as(org.mgr_a)
    page = client.get(f"/channels/{channel.id}/edit").get_data(as_text=True)
    update = services.update

    def other_editor_first(*args, **kwargs):
        with db.engine.begin() as other:
            other.execute(sa.text("UPDATE unit_channels SET name = '别人的', version = version + 1 "
                                  "WHERE id = :id"), {"id": channel.id})
        return update(*args, **kwargs)

    monkeypatch.setattr(services, "update", other_editor_first)
    response = client.post(f"/channels/{channel.id}/edit", data=form(name="我的", version=version_in(page)))
    assert response.status_code == 409 and "alert-danger" in response.get_data(as_text=True)
    assert [(c.name, c.version) for c in channels()] == [("别人的", 2)]


# --- delete and test ------------------------------------------------------------------------------


def test_deleting_a_channel_drops_its_waiting_messages(client, org, login_as, receivers, clock):
    channel = add(org.mgr_a, org.a, receivers.url("wecom"), clock)
    kept = add(org.mgr_a, org.a1, receivers.url("wecom"), clock)
    for target in (channel, kept):
        db.session.add(Notification(**summaries.channel_row(
            Kind.UNIT_DAILY, target, f"test-{target.id}", clock, title="汇总", text="内容", data={})))
    db.session.commit()
    login_as(org.mgr_a)
    listing = client.get("/channels").get_data(as_text=True)
    form_html = re.search(rf'<form[^>]*data-delete="{channel.id}".*?</form>', listing, re.S).group(0)
    assert "data-confirm=" in form_html and channel.name in form_html
    response = client.post(f"/channels/{channel.id}/delete", follow_redirects=True)
    assert response.status_code == 200 and "alert-success" in response.get_data(as_text=True)
    assert [c.id for c in channels()] == [kept.id]
    waiting = db.session.scalars(sa.select(Notification.channel_id)).all()
    assert waiting == [kept.id]
    outbox.flush(clock)  # the deleted channel's rows are gone, not left to fail the flush
    assert [r.kind for r in receivers.received] == ["wecom"]


def test_the_test_button_shows_the_robots_answer(client, org, login_as, receivers, clock):
    channel = add(org.mgr_a, org.a, receivers.url("wecom"), clock)
    login_as(org.mgr_a)
    ok = client.post(f"/channels/{channel.id}/test", follow_redirects=True).get_data(as_text=True)
    assert len(receivers.of("wecom")) == 1 and "支部书记" in receivers.of("wecom")[0].text
    assert re.search(r'alert-success[^>]*>\s*[^<]*wecom ok', ok)
    assert f'data-channel="{channel.id}"' in ok and 'data-test-ok="yes"' in ok

    receivers.script(1, (200, WECOM_BAD_KEY))
    failed = client.post(f"/channels/{channel.id}/test", follow_redirects=True).get_data(as_text=True)
    assert re.search(r'alert-danger[^>]*>\s*[^<]*93000: invalid webhook url', failed)
    assert 'data-test-ok="no"' in failed
    row = re.search(rf'<tr data-channel="{channel.id}".*?</tr>', failed, re.S).group(0)
    assert "93000" in row  # the note stays beside the channel
    assert len(receivers.of("wecom")) == 1
    (saved,) = channels()
    assert saved.last_test_ok is False and "93000" in saved.last_test_note


def test_every_form_needs_its_csrf_token(app, client, org, login_as, receivers, clock):
    channel = add(org.mgr_a, org.a, receivers.url("wecom"), clock)
    login_as(org.mgr_a)
    app.config["WTF_CSRF_ENABLED"] = True
    listing = client.get("/channels").get_data(as_text=True)
    for action in ("test", "delete"):
        refused = client.post(f"/channels/{channel.id}/{action}")
        assert refused.status_code == 302
        assert re.search(rf'<form[^>]*action="/channels/{channel.id}/{action}"[^>]*>\s*<input type="hidden" '
                         r'name="csrf_token" value="[^"]+"', listing)
    page = client.get(f"/channels/{channel.id}/edit").get_data(as_text=True)
    assert client.post(f"/channels/{channel.id}/edit", data=form(name="无令牌", url="")).status_code == 302
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    saved = client.post(f"/channels/{channel.id}/edit",
                        data=form(name="有令牌", url="", version=version_in(page), csrf_token=token))
    assert saved.status_code == 302
    assert [c.name for c in channels()] == ["有令牌"] and receivers.received == []


def test_the_list_costs_the_same_queries_for_one_or_many_channels(client, org, login_as, receivers, clock,
                                                                 make, queries):
    add(org.mgr_a, org.a, receivers.url("wecom"), clock)
    login_as(org.mgr_root)

    def count():
        db.session.expire_all()  # the test shares the request's session: nothing read before counts
        with queries() as statements:
            response = client.get("/channels")
            assert response.status_code == 200
        return len(statements), response.get_data(as_text=True).count("data-channel=")

    few, shown = count()
    assert shown == 1
    extra = make.unit("X", "科室", parent=org.b)
    db.session.commit()
    for who, unit, kind in (("mgr_a", org.a1, "dingtalk"), ("mgr_b", org.b, "feishu"),
                            ("admin", extra, "webhook"), ("mgr_root", org.root, "wecom")):
        secret = {"dingtalk": DING_SECRET, "feishu": "fs", "webhook": "wh"}.get(kind)
        channel = add(org.users[who], unit, receivers.url(kind), clock, kind=kind, secret=secret)
        channel.last_test_at, channel.last_test_ok, channel.last_test_note = clock.now(), False, "HTTP 500"
    db.session.commit()
    assert count() == (few, 5)
