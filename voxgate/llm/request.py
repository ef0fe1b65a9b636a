"""A chat request checked against what its engine can do, before any credit is held or token generated.

The embedded engine takes the fields below and nothing else (a field it cannot honour is a 400, never
silently dropped); an upstream gets every field the client sent, with the model renamed to the upstream's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from voxgate.errors import bad_request
from voxgate.models.catalog import ModelSpec

EMBEDDED_FIELDS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
                             "stop", "seed", "stream", "stream_options", "presence_penalty", "frequency_penalty",
                             "response_format", "n"})
ROLES = frozenset({"system", "developer", "user", "assistant"})
UPSTREAM_ROLES = ROLES | {"tool", "function"}
MAX_STOP = 4
_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0),
           "frequency_penalty": (-2.0, 2.0)}


@dataclass(frozen=True)
class ChatLimits:
    """The bounds of one request (from `LlmSettings`)."""

    max_tokens: int = 1024
    max_messages: int = 256
    context: int = 4096


@dataclass(frozen=True)
class ChatTurn:
    """A validated chat request: the model, the engine's payload, and what metering needs to know."""

    spec: ModelSpec
    payload: dict[str, Any]  # what the engine receives
    stream: bool
    include_usage: bool  # the client asked for the final usage chunk
    max_tokens: int
    prompt_estimate: int  # an upper estimate of the prompt's tokens, for the credit hold

    @property
    def hold_tokens(self) -> int:
        return self.prompt_estimate + self.max_tokens


def _text(content: Any, index: int) -> str:
    """A message's content as text: a string, or a list of text parts (joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_request(f"messages[{index}].content: only text parts ({{'type': 'text', 'text': ...}}) "
                                  "are supported by this model", param=f"messages[{index}].content",
                                  code="unsupported_content")
            texts.append(part["text"])
        return "".join(texts)
    raise bad_request(f"messages[{index}].content must be a string or a list of text parts",
                      param=f"messages[{index}].content", code="invalid_type")


def _messages(raw: Any, limits: ChatLimits, embedded: bool) -> tuple[list[dict[str, Any]], int]:
    """(messages for the engine, characters in them). Embedded: plain {role, content} with `developer` as
    `system`; upstream: the client's own objects, checked for shape only."""
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty array", param="messages", code="invalid_type")
    if len(raw) > limits.max_messages:
        raise bad_request(f"{len(raw)} messages; the limit is {limits.max_messages}", param="messages",
                          code="too_many_messages")
    out: list[dict[str, Any]] = []
    chars = 0
    roles = ROLES if embedded else UPSTREAM_ROLES
    for i, message in enumerate(raw):
        if not isinstance(message, dict):
            raise bad_request(f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type")
        role = message.get("role")
        if role not in roles:
            raise bad_request(f"messages[{i}].role must be one of {', '.join(sorted(roles))}",
                              param=f"messages[{i}].role", code="invalid_value")
        if not embedded:
            content = message.get("content")
            chars += len(content) if isinstance(content, str) else len(str(content or ""))
            out.append(message)
            continue
        extra = set(message) - {"role", "content", "name"}
        if extra:
            raise bad_request(f"messages[{i}]: {', '.join(sorted(extra))} is not supported by this model (tools and "
                              "function calls need an upstream model)", param=f"messages[{i}]",
                              code="unsupported_parameter")
        text = _text(message.get("content"), i)
        chars += len(text)
        out.append({"role": "system" if role == "developer" else role, "content": text})
    if embedded and out[-1]["role"] == "assistant" and not out[-1]["content"]:
        raise bad_request("the last message is an empty assistant message", param="messages", code="invalid_value")
    return out, chars


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number", param=name, code="invalid_type")
    low, high = _RANGES[name]
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low:g} and {high:g}", param=name, code="invalid_value")
    return float(value)


def _max_tokens(body: dict[str, Any], cap: int) -> int:
    """The completion's token budget: what the request asks (max_completion_tokens over max_tokens), at most
    the server's cap (the model's output limit here, as a hosted model has one)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_request(f"'{name}' must be a positive integer", param=name, code="invalid_value")
        return min(value, cap)
    return cap


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if (not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
            or not 1 <= len(stops) <= MAX_STOP):
        raise bad_request(f"'stop' must be a non-empty string or a list of 1 to {MAX_STOP} of them", param="stop",
                          code="invalid_value")
    return stops


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean", param=name, code="invalid_type")
    return value


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise bad_request("'stream_options' takes only 'include_usage'", param="stream_options",
                          code="invalid_value")
    return bool(options.get("include_usage"))


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise bad_request("'response_format.type' must be text, json_object or json_schema",
                          param="response_format", code="invalid_value")
    if kind == "json_schema" and not isinstance(value.get("json_schema"), dict):
        raise bad_request("'response_format.json_schema' must be an object", param="response_format",
                          code="invalid_value")
    return dict(value)


def parse_turn(spec: ModelSpec, body: dict[str, Any], limits: ChatLimits) -> ChatTurn:
    """Check `body` (an OpenAI chat-completion request) for `spec`'s engine; APIError names the field."""
    embedded = not spec.remote
    if embedded:
        unknown = sorted(set(body) - EMBEDDED_FIELDS)
        if unknown:
            raise bad_request(f"{', '.join(unknown)}: not supported by the embedded model {spec.id!r} (tools, "
                              "logprobs and the like need an upstream model)", param=unknown[0],
                              code="unsupported_parameter")
    messages, chars = _messages(body.get("messages"), limits, embedded)
    if chars > limits.context * 8:  # far beyond any context: refuse before the engine tokenises megabytes
        raise bad_request(f"the messages hold {chars} characters, more than this model's context of "
                          f"{limits.context} tokens", param="messages", code="context_length_exceeded")
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request("'n' must be 1: one choice per request", param="n", code="unsupported_value")
    stream = _flag(body, "stream")
    include_usage = _include_usage(body)
    max_tokens = _max_tokens(body, limits.max_tokens)
    payload: dict[str, Any] = dict(body) if not embedded else {}
    payload.update(messages=messages, stream=stream)
    if not embedded and "max_completion_tokens" in body:  # an upstream gets the field its client chose
        payload["max_completion_tokens"] = max_tokens
    else:
        payload["max_tokens"] = max_tokens
    for name in _RANGES:
        value = _number(body, name)
        if value is not None:
            payload[name] = value
    stops = _stop(body.get("stop"))
    if stops is not None:
        payload["stop"] = stops
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise bad_request("'seed' must be an integer", param="seed", code="invalid_type")
        payload["seed"] = seed
    response_format = _response_format(body.get("response_format"))
    if response_format is not None:
        payload["response_format"] = response_format
    if stream:  # usage always comes back, for metering; the client sees it only when it asked
        payload["stream_options"] = {"include_usage": True}
    payload["model"] = str(spec.options.get("upstream_model") or spec.id) if not embedded else spec.id
    estimate = chars // 2 + 4 * len(messages) + 8
    return ChatTurn(spec=spec, payload=payload, stream=stream, include_usage=include_usage, max_tokens=max_tokens,
                    prompt_estimate=estimate)
