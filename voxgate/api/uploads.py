"""Read a transcription request (multipart or JSON with base64 audio) into Fields plus a file on disk.

The audio goes to a temporary file under the data dir, never whole into memory for multipart uploads,
and the size limit is enforced before and while reading."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from voxgate.errors import APIError, bad_request
from voxgate.transcription import Fields
from voxgate.transcription.fields import decode_base64


@dataclass
class Upload:
    fields: Fields
    path: Path
    filename: str
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _too_large(limit: int) -> APIError:
    return APIError(413, f"the upload exceeds the {limit // (1024 * 1024)} MB limit", code="file_too_large",
                    param="file")


async def read_upload(request: Request, tmp_dir: Path, limit: int) -> Upload:
    """Parse the request body by its content type; raises APIError for anything malformed."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit * 4 // 3 + (1 << 20):  # base64 and multipart overhead
        raise _too_large(limit)
    content_type = request.headers.get("content-type", "").lower()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await _read_multipart(request, tmp_dir, limit)
    if content_type.startswith("application/json"):
        return await _read_json(request, tmp_dir, limit)
    raise APIError(415, "send multipart/form-data with a 'file' part, or application/json with 'file_base64'",
                   code="unsupported_media_type")


async def _read_multipart(request: Request, tmp_dir: Path, limit: int) -> Upload:
    try:
        form = await request.form(max_files=2, max_fields=200, max_part_size=1024 * 1024)
    except (MultiPartException, HTTPException) as exc:  # Starlette wraps the parser's error in a 400
        detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise bad_request(f"malformed multipart body: {detail}", code="invalid_multipart") from None
    pairs: list[tuple[str, Any]] = []
    upload: UploadFile | None = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name == "file":
                upload = value
        else:
            pairs.append((name, value))
    fields = Fields.from_pairs(pairs)
    if upload is None:
        await form.close()
        raise bad_request("'file' is required: attach the audio as a multipart file part", param="file",
                          code="missing_file")
    fd, name = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            await upload.seek(0)
            while block := await upload.read(1 << 20):
                size += len(block)
                if size > limit:
                    raise _too_large(limit)
                out.write(block)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    finally:
        await form.close()
    return Upload(fields=fields, path=Path(name), filename=upload.filename or "upload", size=size)


async def _read_json(request: Request, tmp_dir: Path, limit: int) -> Upload:
    raw = await request.body()  # bounded by the intake middleware
    return await anyio.to_thread.run_sync(_json_upload, raw, tmp_dir, limit)  # parse and base64: CPU work


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A JSON body that must be an object (blocking for large bodies: call it off the event loop)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("the JSON body could not be parsed (or is nested too deeply)") from None
    if not isinstance(body, dict):
        raise bad_request("the JSON body must be an object")
    return body


def _json_upload(raw: bytes, tmp_dir: Path, limit: int) -> Upload:
    body = parse_json_object(raw)
    fields = Fields.from_json(body)
    source = next((k for k in ("file_base64", "audio", "file") if isinstance(body.get(k), str)), None)
    if source is None:
        raise bad_request("send the audio as base64 in 'file_base64' (or 'audio')", param="file_base64",
                          code="missing_file")
    data = decode_base64(body[source], source)
    if len(data) > limit:
        raise _too_large(limit)
    fd, name = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return Upload(fields=fields, path=Path(name), filename=str(body.get("filename") or "upload"), size=len(data))
