"""The web playground at `/`: one static page from voxgate.playground, calling the public API with the key the
user types in (kept in the browser's session storage). Same origin as the API, so it needs no CORS."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from voxgate.playground import ASSETS, INDEX

ASSETS_DIR = ASSETS
ASSETS_URL = "/static/playground"

router = APIRouter()


@router.get("/", include_in_schema=False)
def playground() -> FileResponse:
    return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})
