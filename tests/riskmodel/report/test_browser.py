"""A real browser opens report.html from a file URL: it renders, logs no console error and
asks the network for nothing.

Headless Chromium (Debian package ``chromium``). When it is missing, the session fixture
installs it with ``apt-get install -y --no-install-recommends chromium`` (needs root and the
Debian registry); ``make test`` does the same before the suite. Console messages come from
``--enable-logging=stderr --v=0`` (one ``CONSOLE`` line per message: errors, uncaught
exceptions, warnings); requests from ``--log-net-log``. Each detector is first shown to catch
a deliberately broken page, so a silent browser cannot pass the test.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

WIDTH, HEIGHT = 1280, 2400
BROWSER_HOSTS = re.compile(r"^https?://([a-z0-9.-]+\.)?(google\.com|gvt1\.com|googleapis\.com)[/:]")
"""The browser's own background services (clock, accounts): not requests made by the page."""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium, installed with apt-get when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
            capture_output=True,
            text=True,
        )
        found = shutil.which("chromium")
        if found is None:
            pytest.fail(f"chromium missing and apt-get could not install it: {done.stderr[-2000:]}")
    return found


@dataclass(frozen=True)
class Rendered:
    png: Path
    console: list[str]
    requests: list[str]


def render(browser: str, page: Path, work: Path) -> Rendered:
    """Open ``page`` from a file URL in headless Chromium; screenshot, console and requests."""
    png, netlog = work / "shot.png", work / "net.json"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--disable-extensions",
        "--no-pings",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={work / 'profile'}",
        f"--log-net-log={netlog}",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={png}",
        "--enable-logging=stderr",
        "--v=0",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert png.is_file(), f"no screenshot; chromium said: {done.stderr[-3000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    requests: list[str] = []
    if netlog.is_file():
        text = netlog.read_text(encoding="utf-8", errors="replace")
        urls = set(re.findall(r'"url":"([^"]+)"', text))
        requests = sorted(u for u in urls if not BROWSER_HOSTS.match(u))
    return Rendered(png=png, console=console, requests=requests)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the (still filtered) scanlines of an 8-bit RGB(A) PNG.

    A flat page filters to identical rows; text and charts give many distinct ones.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    return width, height, rows


def test_detectors_catch_a_broken_page(chromium: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><h1>broken</h1>"
        '<link rel="stylesheet" href="https://fonts.example.org/x.css">'
        '<script>throw new Error("boom")</script></body></html>',
        encoding="utf-8",
    )
    seen = render(chromium, bad, tmp_path)
    assert any("boom" in line for line in seen.console), seen.console
    assert any("fonts.example.org" in url for url in seen.requests), seen.requests


def test_report_renders_offline_without_console_errors(
    chromium: str, scored, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from riskmodel import api

    done = api.explain(
        scored.model_uri,
        scored.scores_dir,
        tmp_path / "report",
        top=3,
        tracking_uri=scored.tracking_uri,
    )
    seen = render(chromium, done.html, tmp_path)
    assert seen.console == []
    assert seen.requests == []
    width, height, rows = png_pixels(seen.png)
    assert (width, height) == (WIDTH, HEIGHT)
    distinct_rows = len(set(rows))
    distinct_bytes = len(set(b"".join(rows[:: max(1, height // 200)])))
    assert distinct_rows > height // 4, distinct_rows  # text and charts, not a flat page
    assert distinct_bytes > 32, distinct_bytes
    assert json.loads(done.json.read_text(encoding="utf-8"))["shipments"]
