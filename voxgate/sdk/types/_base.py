"""The base of every result object: built from the JSON the server sent (kept whole for `to_dict()`), with
the `request_id` of its response; the list page, plain-text results and usage shared by all routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
M = TypeVar("M", bound="BaseType")


@dataclass
class BaseType:
    """Shared behaviour: build from a JSON dict (unknown keys kept in `to_dict()`, not as attributes)."""

    request_id: str | None = field(default=None, kw_only=True, repr=False, compare=False)
    _raw: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[M], data: dict[str, Any], request_id: str | None = None) -> M:
        names = {f.name for f in fields(cls) if f.init and not f.name.startswith("_") and f.name != "request_id"}
        values = {k: v for k, v in data.items() if k in names}
        values.update(cls._convert(data))
        return cls(**values, request_id=request_id, _raw=data)

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Subclasses turn nested dicts into typed objects here."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)


def usage_of(value: Any) -> UsageDuration | UsageTokens | None:
    if not isinstance(value, dict):
        return None
    if value.get("type") == "tokens":
        return UsageTokens.from_dict(value)
    return UsageDuration.from_dict(value)


def list_of(cls: type[M], value: Any) -> list[M] | None:
    if value is None:
        return None
    return [cls.from_dict(item) for item in value]


@dataclass
class UsageDuration(BaseType):
    """Audio-billed usage: whole seconds of input audio."""

    seconds: float = 0
    type: Literal["duration"] = "duration"


@dataclass
class UsageTokens(BaseType):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    type: Literal["tokens"] = "tokens"


class Text(str):
    """A text/srt/vtt result: an ordinary `str` that also knows its `request_id`."""

    request_id: str | None

    def __new__(cls, value: str, request_id: str | None = None) -> Text:
        obj = super().__new__(cls, value)
        obj.request_id = request_id
        return obj


@dataclass
class Page(Generic[T]):
    """A list response (`{"object": "list", "data": [...]}`); iterate it like the list it holds."""

    data: list[T]
    object: str = "list"
    has_more: bool = False
    request_id: str | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> T:
        return self.data[index]
