"""Request fields from multipart forms and JSON bodies, read the same way (no HTTP here: name -> values).

The OpenAI SDK flattens lists to repeated `name[]` parts and dicts to `name[key]`; JSON clients send
native lists, dicts and booleans. `Fields` hides the difference from the routers."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, TypeVar

from voxgate.errors import bad_request

N = TypeVar("N", int, float)
_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.IGNORECASE)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(name: str, value: Any) -> None:
    """JSON may escape half of a UTF-16 pair (`"\\ud800"`); no text is made of those, and the tokenizer and
    the phonemizer fail on them: a 400 naming the field."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise bad_request(f"'{name}' contains an unpaired UTF-16 surrogate", param=name)
    elif isinstance(value, list):
        for item in value:
            _no_surrogates(name, item)
    elif isinstance(value, dict):
        for sub, item in value.items():
            _no_surrogates(name, sub)
            _no_surrogates(name, item)


class Fields:
    def __init__(self, values: dict[str, list[Any]], lists: frozenset[str] = frozenset()) -> None:
        self.values = values
        self.lists = lists  # fields sent as a list (JSON list, `name[]` parts): a scalar read is a 400, not item 0

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> Fields:
        values: dict[str, list[Any]] = {}
        lists: set[str] = set()
        for name, value in pairs:
            key = name[:-2] if name.endswith("[]") else name
            if key != name:
                lists.add(key)
            values.setdefault(key, []).append(value)
        return cls(values, frozenset(lists))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fields:
        values: dict[str, list[Any]] = {}
        lists: set[str] = set()
        for name, value in body.items():
            key = name[:-2] if name.endswith("[]") else name
            _no_surrogates(key, value)
            if isinstance(value, dict):
                for sub, v in value.items():
                    values[f"{key}[{sub}]"] = [v]
                values[key] = [value]
            elif isinstance(value, list):
                values[key] = list(value)
                lists.add(key)
            elif value is not None:
                values[key] = [value]
        return cls(values, frozenset(lists))

    def has(self, name: str) -> bool:
        return name in self.values

    def _single(self, name: str) -> Any:
        """The field's one value (None when absent); a list or an object where one value belongs is a 400."""
        vals = self.values.get(name)
        if not vals:
            return None
        value = vals[0]
        if isinstance(value, (dict, list)) or name in self.lists:
            raise bad_request(f"'{name}' must be a single value, not a list or an object", param=name)
        return value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._single(name)
        return default if value is None else str(value)

    def strings(self, name: str) -> list[str]:
        """Every value of a list field, each of which must be a string (a 400 naming the field if not)."""
        values = self.values.get(name, [])
        if not all(isinstance(v, str) for v in values):
            raise bad_request(f"'{name}' must be a list of strings", param=name)
        return list(values)

    def texts(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.values.get(name, []):
            if isinstance(value, str) and "," in value and not value.startswith("data:"):
                out.extend(v.strip() for v in value.split(",") if v.strip())
            else:
                out.append(str(value))
        return out

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._single(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad_request(f"'{name}' must be true or false, got {str(value)[:40]!r}", param=name)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self._number(name, float, low, high)
        return default if value is None else value

    def integer(self, name: str, low: int, high: int) -> int | None:
        return self._number(name, int, low, high)

    def _number(self, name: str, kind: type[N], low: N, high: N) -> N | None:
        """The field as `kind` within [low, high]; None when absent or empty; else a 400 naming it."""
        raw = self.text(name)
        if raw is None or raw == "":
            return None
        try:
            value = kind(raw)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise bad_request(f"'{name}' must be {what}, got {raw[:40]!r}", param=name) from None
        if not low <= value <= high:
            raise bad_request(f"'{name}' must be between {low} and {high}, got {value}", param=name)
        return value

    def mapping(self, name: str) -> dict[str, Any] | None:
        """A nested object: `name` as a JSON object, or `name[key]` form parts."""
        for value in self.values.get(name, []):
            if isinstance(value, dict):
                return value
        prefix = name + "["
        nested = {k[len(prefix):-1]: v[0] for k, v in self.values.items() if k.startswith(prefix) and k.endswith("]")}
        return nested or None


def decode_base64(value: str, param: str) -> bytes:
    """Plain base64 or a data URL (audio sent in JSON); anything else is a 400 naming the field."""
    text = _DATA_URL.sub("", value.strip(), count=1)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"'{param}' is not valid base64 audio", param=param) from None
