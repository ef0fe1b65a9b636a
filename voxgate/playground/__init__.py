"""The web playground's page and assets (HTML, CSS, JS, no build step, no CDN), served by voxgate itself at `/`.

A package of files only: the API layer mounts `ASSETS`; nothing here imports the server."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).with_name("static")
INDEX = ASSETS / "index.html"
