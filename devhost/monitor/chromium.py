"""How tests and benchmarks launch Debian's chromium for the monitor page (Playwright with the
system browser; `playwright install` is never run): headless, no sandbox (root), and no
background networking, which would otherwise keep retrying a closed network."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
