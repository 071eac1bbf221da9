"""The channels' API (推送渠道): GET|POST /units/{id}/channels, GET|PATCH|DELETE /channels/{id},
POST /channels/{id}/test — the services' rules, the API's shapes, and never the address or secret."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from robot_receivers import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    HOOK_SECRET,
    WECOM_BAD_KEY,
    WECOM_KEY,
)
from test_api import Api, assert_error

from tracker.api import channels as channel_api
from tracker.api import openapi
from tracker.auth import tokens
from tracker.channels import summaries
from tracker.channels.models import UnitChannel
from tracker.extensions import db
from tracker.reminders import outbox
from tracker.reminders.models import Notification
from tracker.reminders.models import NotificationKind as Kind

SECRETS = {"wecom": None, "dingtalk": DING_SECRET, "feishu": FEISHU_SECRET, "webhook": HOOK_SECRET}
NEVER_SHOWN = (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET, HOOK_SECRET)


class ChannelApi(Api):
    """The API client; every answer is checked for the addresses' keys and the secrets."""

    seen: list[str]

    def _checked(self, response):
        text = response.get_data(as_text=True)
        self.seen.append(text)
        assert not [s for s in NEVER_SHOWN if s in text], text
        body = response.get_json(silent=True)
        if isinstance(body, dict) and ("items" in body or "kind" in body):  # a channel or a page of them
            for item in body.get("items", [body]):
                assert "url" not in item and "secret" not in item, item
        return response

    def get(self, path, **params):
        return self._checked(super().get(path, **params))

    def post(self, path, body=None, **kw):
        return self._checked(super().post(path, body, **kw))

    def patch(self, path, body=None, **kw):
        return self._checked(super().patch(path, body, **kw))

    def delete(self, path):
        return self._checked(self.client.delete("/api/v1" + path, headers=self.headers))


@pytest.fixture
def api(client, clock):
    """api(user) → a ChannelApi authenticated with a fresh token of that user."""

    def make(user):
        _, raw = tokens.create_token(user, clock, name="test")
        db.session.commit()
        made = ChannelApi(client, raw)
        made.seen = []
        return made

    return make


def new_channel(receivers, kind="dingtalk", **extra) -> dict:
    body = {"name": f"{kind}群", "kind": kind, "url": receivers.url(kind), **extra}
    if SECRETS[kind]:
        body["secret"] = SECRETS[kind]
    return body


def channel_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(UnitChannel))


@pytest.fixture
def in_a(org, receivers, api):
    """A 钉钉 channel of A, made by the administrator."""
    made = api(org.admin).post(f"/units/{org.a.id}/channels", new_channel(receivers))
    assert made.status_code == 201, made.get_json()
    return made.get_json()


# --- who may do what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "mgr_root", "mgr_a"])
def test_admins_and_managers_of_the_unit_or_above_do_everything(org, receivers, api, who):
    client = api(org.users[who])
    made = client.post(f"/units/{org.a.id}/channels", new_channel(receivers, daily=False, language="en"))
    assert made.status_code == 201, made.get_json()
    channel = made.get_json()
    assert set(channel) == set(channel_api.CHANNEL) == set(openapi.RESOURCES["Channel"][0])
    assert channel["unit_id"] == org.a.id and channel["kind"] == "dingtalk" and channel["has_secret"]
    assert channel["daily"] is False and channel["weekly"] is True and channel["language"] == "en"
    assert channel["url_hint"].startswith(f"http://{receivers.host}/…") and channel["version"] == 1
    assert channel["last_test_at"] is None and channel["last_test_ok"] is None
    cid = channel["id"]

    listed = client.get(f"/units/{org.a.id}/channels").get_json()
    assert listed["total"] == 1 and [c["id"] for c in listed["items"]] == [cid]
    assert listed["page"] == 1 and listed["per_page"] >= 1
    assert client.get(f"/channels/{cid}").get_json() == channel

    changed = client.patch(f"/channels/{cid}", {"version": 1, "name": "支部群", "daily": True})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["name"] == "支部群" and changed.get_json()["daily"] is True
    assert changed.get_json()["version"] == 2 and changed.get_json()["has_secret"]

    tested = client.post(f"/channels/{cid}/test")
    assert tested.status_code == 200 and tested.get_json() == {"ok": True, "note": "dingtalk ok"}
    assert len(receivers.of("dingtalk")) == 1  # signed with the saved secret, else refused there
    assert client.get(f"/channels/{cid}").get_json()["last_test_ok"] is True

    deleted = client.delete(f"/channels/{cid}")
    assert deleted.status_code == 204 and deleted.data == b""
    assert_error(client.get(f"/channels/{cid}"), 404, "not_found")
    assert channel_count() == 0


@pytest.mark.parametrize("who, status", [("mgr_b", 404), ("staff_a", 403), ("viewer_root", 403),
                                         ("staff_b", 404), ("viewer_b", 404)])
def test_others_get_404_outside_their_scope_and_403_inside_it(org, receivers, api, in_a, who, status):
    client = api(org.users[who])
    code = "not_found" if status == 404 else "forbidden"
    cid = in_a["id"]
    assert_error(client.get(f"/units/{org.a.id}/channels"), status, code)
    other = new_channel(receivers, name="另一个")
    assert_error(client.post(f"/units/{org.a.id}/channels", other), status, code)
    assert_error(client.get(f"/channels/{cid}"), status, code)
    assert_error(client.patch(f"/channels/{cid}", {"version": 1, "name": "改"}), status, code)
    assert_error(client.delete(f"/channels/{cid}"), status, code)
    assert_error(client.post(f"/channels/{cid}/test"), status, code)
    # Refused before the body is read: a wrong body changes nothing about the answer.
    assert_error(client.patch(f"/channels/{cid}", {"bogus": 1}), status, code)
    assert receivers.received == [] and channel_count() == 1
    assert api(org.admin).get(f"/channels/{cid}").get_json() == in_a


def test_out_of_scope_and_missing_look_the_same(org, receivers, api, in_a):
    client = api(org.mgr_b)
    hidden = assert_error(client.get(f"/channels/{in_a['id']}"), 404)
    assert assert_error(client.get("/channels/999999"), 404) == hidden
    assert assert_error(client.get("/channels/99999999999999999999"), 404) == hidden
    assert assert_error(client.get(f"/units/{org.a.id}/channels"), 404) == hidden
    assert assert_error(client.get("/units/999999/channels"), 404) == hidden
    mgr_a = api(org.mgr_a)
    assert_error(mgr_a.get(f"/units/{org.root.id}/channels"), 404)  # above A: out of scope
    assert mgr_a.get(f"/units/{org.a1.id}/channels").get_json()["total"] == 0  # below A: its own only


def test_a_units_list_holds_its_own_channels_only(org, receivers, api, in_a):
    mgr_a = api(org.mgr_a)
    below = mgr_a.post(f"/units/{org.a1.id}/channels", new_channel(receivers, "wecom"))
    assert below.status_code == 201
    assert [c["id"] for c in mgr_a.get(f"/units/{org.a.id}/channels").get_json()["items"]] == [in_a["id"]]
    page = mgr_a.get(f"/units/{org.a1.id}/channels", per_page=1).get_json()
    assert page["total"] == 1 and page["per_page"] == 1 and page["items"][0]["kind"] == "wecom"


# --- the address and the secret ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "feishu", "webhook"])
def test_the_address_and_secret_are_never_answered(org, receivers, api, kind):
    client = api(org.mgr_a)
    made = client.post(f"/units/{org.a.id}/channels", new_channel(receivers, kind))
    assert made.status_code == 201, made.get_json()
    channel = made.get_json()
    assert channel["has_secret"] is (kind != "wecom")
    assert channel["url_hint"].endswith("…" + receivers.url(kind)[-4:])
    cid = channel["id"]
    client.get(f"/channels/{cid}")
    client.get(f"/units/{org.a.id}/channels")
    patch = {"version": 1, "url": receivers.url(kind)}
    if SECRETS[kind]:
        patch["secret"] = SECRETS[kind]
    assert client.patch(f"/channels/{cid}", patch).status_code == 200
    assert client.post(f"/channels/{cid}/test").get_json()["ok"] is True
    client.get("/openapi.json")
    assert len(client.seen) == 6  # and ChannelApi checked each answer for the keys and secrets


def test_the_document_marks_the_address_and_secret_write_only(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert not {"url", "secret"} & set(schemas["Channel"]["properties"])
    for name in ("ChannelCreate", "ChannelUpdate"):
        for field in ("url", "secret"):
            assert schemas[name]["properties"][field]["writeOnly"] is True
    assert schemas["ChannelCreate"]["required"] == ["name", "kind", "url"]
    assert schemas["ChannelUpdate"]["required"] == ["version"]
    assert "204" in doc["paths"]["/channels/{channel_id}"]["delete"]["responses"]


# --- wrong bodies, stale versions ----------------------------------------------------------------------


DROP = object()  # the field left out


@pytest.mark.parametrize("change, field", [
    (dict(kind="sms"), "kind"),
    (dict(kind="wecom", url="https://evil.example/cgi-bin/webhook/send?key=k"), "url"),
    (dict(kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send"), "url"),
    (dict(url="https://["), "url"),
    (dict(url=None), "url"),
    (dict(secret=DROP), "secret"),
    (dict(secret=None), "secret"),
    (dict(daily="yes"), "daily"),
    (dict(active=1), "active"),
    (dict(notices=None), "notices"),
    (dict(language="fr"), "language"),
    (dict(name=""), "name"),
    (dict(name="群\n名"), "name"),
    (dict(name="群" * 81), "name"),
    (dict(colour="red"), "colour"),
    (dict(url_hint="http://x/…abcd"), "url_hint"),
    (dict(version=1), "version"),
])
def test_wrong_bodies_answer_422_at_their_field_and_create_nothing(org, receivers, api, change, field):
    body = {k: v for k, v in {**new_channel(receivers), **change}.items() if v is not DROP}
    answer = api(org.mgr_a).post(f"/units/{org.a.id}/channels", body)
    assert_error(answer, 422, "validation_failed", field)
    assert channel_count() == 0


def test_a_missing_field_and_a_name_in_use_answer_422(org, receivers, api, in_a):
    client = api(org.mgr_a)
    for missing in ("name", "kind", "url"):
        body = new_channel(receivers, name="新群")
        del body[missing]
        assert_error(client.post(f"/units/{org.a.id}/channels", body), 422, field=missing)
    taken = new_channel(receivers)
    assert taken["name"] == in_a["name"]
    assert_error(client.post(f"/units/{org.a.id}/channels", taken), 422, field="name")
    assert client.post(f"/units/{org.b.id}/channels", taken).status_code == 404  # B is not mgr_a's
    assert api(org.mgr_b).post(f"/units/{org.b.id}/channels", taken).status_code == 201  # B may use it


@pytest.mark.parametrize("change, field", [
    ({"daily": "false"}, "daily"), ({"name": None}, "name"), ({"kind": "feishu"}, "url"),
    ({"kind": "wecom", "url": "ftp://x"}, "url"), ({"unit_id": 3}, "unit_id"), ({"id": 1}, "id"),
    ({"has_secret": False}, "has_secret"), ({"version": "1"}, "version"),
])
def test_wrong_changes_answer_422_and_change_nothing(org, receivers, api, in_a, change, field):
    client = api(org.mgr_a)
    assert_error(client.patch(f"/channels/{in_a['id']}", {"version": 1, **change}), 422, field=field)
    assert_error(client.patch(f"/channels/{in_a['id']}", {"name": "x"}), 422, field="version")
    assert client.get(f"/channels/{in_a['id']}").get_json() == in_a


def test_a_stale_version_answers_409_and_changes_nothing(org, receivers, api, in_a):
    first, second = api(org.mgr_a), api(org.mgr_root)
    assert first.patch(f"/channels/{in_a['id']}", {"version": 1, "name": "第一"}).status_code == 200
    stale = second.patch(f"/channels/{in_a['id']}", {"version": 1, "name": "第二", "active": False})
    assert_error(stale, 409, "stale_version")
    now = second.get(f"/channels/{in_a['id']}").get_json()
    assert now["name"] == "第一" and now["active"] is True and now["version"] == 2
    turned_off = second.patch(f"/channels/{in_a['id']}", {"version": 2, "active": False})
    assert turned_off.get_json()["active"] is False


def test_switching_kind_takes_the_new_address_and_drops_an_unneeded_secret(org, receivers, api, in_a):
    client = api(org.mgr_a)
    switched = client.patch(f"/channels/{in_a['id']}", {"version": 1, "kind": "wecom",
                                                         "url": receivers.url("wecom")})
    assert switched.status_code == 200, switched.get_json()
    assert switched.get_json()["kind"] == "wecom" and switched.get_json()["has_secret"] is False
    assert client.post(f"/channels/{in_a['id']}/test").get_json()["ok"] is True
    assert len(receivers.of("wecom")) == 1


# --- the test message ---------------------------------------------------------------------------------


def test_the_test_message_arrives_and_a_robots_error_is_answered(org, receivers, api):
    client = api(org.mgr_a)
    cid = client.post(f"/units/{org.a.id}/channels", new_channel(receivers, "wecom")).get_json()["id"]
    answer = client.post(f"/channels/{cid}/test")
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "note": "wecom ok"}
    got = receivers.of("wecom")
    assert len(got) == 1 and "支部书记" in got[0].text  # who sent it
    receivers.script(1, (200, WECOM_BAD_KEY))
    failed = client.post(f"/channels/{cid}/test").get_json()
    assert failed["ok"] is False and "93000" in failed["note"] and "invalid webhook url" in failed["note"]
    assert len(receivers.of("wecom")) == 1
    channel = client.get(f"/channels/{cid}").get_json()
    assert channel["last_test_ok"] is False and "93000" in channel["last_test_note"]
    assert channel["last_test_at"].endswith("Z")


def test_deleting_a_channel_drops_its_waiting_messages(org, receivers, api, in_a, clock):
    channel = db.session.get(UnitChannel, in_a["id"])
    row = summaries.channel_row(Kind.UNIT_DAILY, channel, "t:1", clock, title="t", text="x", data={})
    outbox.enqueue([row])
    db.session.commit()
    assert api(org.mgr_a).delete(f"/channels/{in_a['id']}").status_code == 204
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.subject == "t")) == 0
    assert receivers.received == []
