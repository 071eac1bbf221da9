"""推送渠道 end to end in real headless Chromium, in both languages: a branch's manager opens Channels
from the menu, adds a 钉钉 robot (the local receiver, 加签 secret), sees it listed with its masked
address only, presses "Send test message" and the receiver gets exactly one correctly signed message.
Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from browser_support import shot
from robot_receivers import DING_SECRET, DING_TOKEN
from test_browser import login

from tracker.channels.models import UnitChannel
from tracker.extensions import db

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_manager_adds_a_dingtalk_robot_and_sends_a_test(page, live_server, org, receivers, lang):
    server = live_server
    for user in org.users.values():
        user.language = lang
    db.session.commit()

    login(page, server, org.mgr_a)
    page.click("#ledger-menu")
    page.click("#channels-link")
    page.wait_for_url(re.compile(r".*/channels$"))
    assert page.locator("#no-channels").count() == 1
    page.select_option("#add-unit", str(org.a.id))
    page.click("#add-channel-button")
    page.wait_for_url(re.compile(rf".*/units/{org.a.id}/channels/new$"))

    page.fill("#name", "第一党支部钉钉群")
    page.select_option("#kind", "dingtalk")
    page.fill("#url", receivers.url("dingtalk"))
    page.fill("#secret", DING_SECRET)
    page.uncheck("#weekly")
    shot(page, f"channels-{lang}-01-new")
    page.click("#save-channel")
    page.wait_for_url(re.compile(r".*/channels$"))

    db.session.expire_all()
    channel = db.session.scalars(sa.select(UnitChannel)).one()
    assert (channel.kind.value, channel.weekly, channel.has_secret, channel.language) == (
        "dingtalk", False, True, "zh_CN")
    row = page.locator(f"tr[data-channel='{channel.id}']")
    assert row.locator("[data-url-hint]").inner_text() == channel.url_hint
    assert row.locator("[data-secret='yes']").count() == 1
    assert page.locator(".alert-success").count() == 1
    html = page.content()
    assert DING_TOKEN not in html and DING_SECRET not in html
    shot(page, f"channels-{lang}-02-listed")

    page.click(f"[data-test='{channel.id}']")
    page.wait_for_url(re.compile(r".*/channels$"))
    reached = page.locator(".alert-success").inner_text().strip()
    assert reached == ({"en": "The test message reached 第一党支部钉钉群 (dingtalk ok).",
                        "zh_CN": "测试消息已送达“第一党支部钉钉群”（dingtalk ok）。"}[lang])
    assert row.get_attribute("data-test-ok") == "yes"
    got = receivers.of("dingtalk")
    assert len(got) == 1 and receivers.refused == []  # the receiver checks the 加签 signature
    assert "支部书记" in got[0].text and "第一党支部钉钉群" in got[0].text
    if lang == "en":
        assert page.locator(f"[data-test='{channel.id}']").inner_text().strip() == "Send test message"
    shot(page, f"channels-{lang}-03-tested")

    # The edit page shows the masked address as help, never the address or the secret.
    page.click(f"[data-edit='{channel.id}']")
    page.wait_for_url(re.compile(rf".*/channels/{channel.id}/edit$"))
    assert page.input_value("#url") == "" and page.input_value("#secret") == ""
    assert channel.url_hint in page.content() and DING_TOKEN not in page.content()
    shot(page, f"channels-{lang}-04-edit")
