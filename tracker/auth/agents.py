"""A short name for a User-Agent header ("Chrome 126 · Windows"), for the list of a user's logins."""

from __future__ import annotations

import re

# First match wins: Edge, Opera and the Chinese browsers also say "Chrome" and "Safari".
BROWSERS = (
    ("MicroMessenger/", "WeChat"), ("DingTalk/", "DingTalk"), ("wxwork/", "WeCom"), ("Lark/", "Feishu"),
    ("QQBrowser/", "QQ Browser"), ("UCBrowser/", "UC Browser"), ("QIHU 360", "360 Browser"),
    ("Edg/", "Edge"), ("Edge/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Version/", "Safari"),
)
SYSTEMS = (
    ("HarmonyOS", "HarmonyOS"), ("Windows", "Windows"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
    ("Android", "Android"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"),
)


def describe(user_agent: str | None) -> str:
    """"Firefox 128 · Windows", or the header itself (shortened) when it names no known browser."""
    text = user_agent or ""
    browser = next(((marker, name) for marker, name in BROWSERS if marker in text), None)
    system = next((name for marker, name in SYSTEMS if marker in text), None)
    if browser is None:
        return text[:60]
    marker, name = browser
    version = re.search(re.escape(marker) + r"\s?(\d+)", text) if marker.endswith("/") else None
    label = f"{name} {version.group(1)}" if version else name
    return f"{label} · {system}" if system else label
