"""Audio inputs the SDK accepts, made re-sendable: a retry must upload the same bytes again."""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union, cast

FileContent = Union[bytes, bytearray, "os.PathLike[str]", IO[bytes]]
FileTypes = Union[FileContent, tuple[str | None, FileContent], tuple[str | None, FileContent, str]]
"""bytes, a path, an open binary file, or (filename, content[, content_type])."""

DEFAULT_FILENAME = "upload"


@dataclass
class FileSource:
    """Where the bytes come from; `open()` gives a fresh stream positioned at the start, per attempt."""

    filename: str
    content_type: str
    data: bytes | None = None
    path: Path | None = None
    handle: IO[bytes] | None = None
    start: int = 0

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is not None:
            return self.path.open("rb")
        assert self.handle is not None
        self.handle.seek(self.start)
        return cast(IO[bytes], _Unclosable(self.handle))

    def read(self) -> bytes:
        stream = self.open()
        try:
            return stream.read()
        finally:
            stream.close()


class _Unclosable(io.RawIOBase):
    """Wrap the caller's file so httpx closing the upload does not close the caller's handle."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.inner.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def file_source(value: FileTypes) -> FileSource:
    """Normalise any accepted input; a non-seekable stream is read into memory once."""
    filename: str | None = None
    content_type: str | None = None
    content: Any = value
    if isinstance(value, tuple):
        filename = value[0]
        content = value[1]
        content_type = value[2] if len(value) > 2 else None
    if isinstance(content, (bytes, bytearray, memoryview)):
        name = filename or DEFAULT_FILENAME
        return FileSource(name, content_type or "application/octet-stream", data=bytes(content))
    if isinstance(content, (str, os.PathLike)):
        path = Path(content)
        if not path.is_file():
            raise FileNotFoundError(f"no such audio file: {path}")
        name = filename or path.name
        return FileSource(name, content_type or _guess_type(name), path=path)
    if hasattr(content, "read"):
        raw_name = getattr(content, "name", None)
        name = filename or (os.path.basename(raw_name) if isinstance(raw_name, str) else DEFAULT_FILENAME)
        kind = content_type or _guess_type(name)
        seekable = getattr(content, "seekable", lambda: False)()
        if seekable:
            return FileSource(name, kind, handle=content, start=content.tell())
        return FileSource(name, kind, data=content.read())
    raise TypeError(f"unsupported file input {type(content).__name__}: pass bytes, a path or a binary file")


def data_url(value: FileTypes | str) -> str:
    """Audio for JSON or form fields (reference clips): a `str` is sent as-is (a data URL, base64 or
    a server-side id); anything else is read and encoded as a base64 data URL."""
    if isinstance(value, str):
        return value
    source = file_source(value)
    kind = source.content_type if source.content_type != "application/octet-stream" else "audio/wav"
    return f"data:{kind};base64,{base64.b64encode(source.read()).decode()}"
