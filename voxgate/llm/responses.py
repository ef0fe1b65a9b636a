"""OpenAI's Responses API on the chat engines: its input items become chat messages, a completion becomes a
`response` object, and a chat stream becomes the Responses event stream (`response.created`, deltas of
`response.output_text.delta`, ..., `response.completed`)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from voxgate.errors import bad_request

FIELDS = frozenset({"model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "stream",
                    "previous_response_id", "store", "metadata", "user"})
_TEXT_PARTS = ("input_text", "output_text", "text")


def new_ids() -> tuple[str, str]:
    """(response id, output message id)."""
    return f"resp_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if (not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS
                    or not isinstance(part.get("text"), str)):
                raise bad_request(f"{where}: only text parts (input_text, output_text) are supported", param="input",
                                  code="unsupported_content")
            texts.append(part["text"])
        return "".join(texts)
    raise bad_request(f"{where}: content must be a string or a list of text parts", param="input",
                      code="invalid_type")


def input_messages(value: Any) -> list[dict[str, str]]:
    """The request's `input` (a string, or a list of message items) as chat messages."""
    if isinstance(value, str):
        if not value.strip():
            raise bad_request("'input' must not be empty", param="input", code="empty_input")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise bad_request("'input' must be a string or a non-empty list of message items", param="input",
                          code="invalid_type")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            kind = item.get("type") if isinstance(item, dict) else type(item).__name__
            raise bad_request(f"input[{i}]: {kind!r} items are not supported (messages only: tools need an "
                              "upstream model)", param="input", code="unsupported_content")
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise bad_request(f"input[{i}].role must be user, assistant, system or developer", param="input")
        out.append({"role": role, "content": _content(item.get("content"), f"input[{i}]")})
    return out


def chat_body(body: dict[str, Any], history: list[dict[str, str]]) -> dict[str, Any]:
    """The chat-completion request a Responses request stands for (`history`: what previous_response_id holds)."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise bad_request(f"{unknown[0]!r} is not supported here (tools, reasoning and text formats need an "
                          "upstream model on the chat route)", param=unknown[0], code="unsupported_parameter")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad_request("'instructions' must be a string", param="instructions", code="invalid_type")
    messages = ([{"role": "system", "content": instructions}] if instructions else []) + history \
        + input_messages(body.get("input"))
    chat: dict[str, Any] = {"messages": messages, "stream": bool(body.get("stream"))}
    tokens = body.get("max_output_tokens")
    if tokens is not None:
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise bad_request("'max_output_tokens' must be a positive integer", param="max_output_tokens")
        chat["max_tokens"] = tokens
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    return chat


def usage(chat_usage: dict[str, Any] | None) -> dict[str, Any]:
    u = chat_usage or {}
    prompt, completion = int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
    cached = int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + completion}


def response_object(response_id: str, message_id: str, model: str, body: dict[str, Any], text: str | None,
                    finish: str | None, chat_usage: dict[str, Any] | None,
                    created: float | None = None) -> dict[str, Any]:
    """The `response` object; `text` None: still in progress (the stream's first events)."""
    done = text is not None
    status = "in_progress" if not done else ("incomplete" if finish == "length" else "completed")
    output: list[dict[str, Any]] = [] if not done else [{
        "type": "message", "id": message_id, "status": "completed" if status == "completed" else "incomplete",
        "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    return {
        "id": response_id, "object": "response", "created_at": int(created or time.time()), "status": status,
        "model": model, "output": output, "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"), "temperature": body.get("temperature"),
        "top_p": body.get("top_p"), "previous_response_id": body.get("previous_response_id"),
        "metadata": body.get("metadata") or {}, "parallel_tool_calls": False, "tool_choice": "none", "tools": [],
        "text": {"format": {"type": "text"}}, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "usage": usage(chat_usage) if done else None,
    }


class EventStream:
    """Numbers the Responses stream's events (`sequence_number`) and builds each one."""

    def __init__(self, response_id: str, message_id: str, model: str, body: dict[str, Any]) -> None:
        self.response_id, self.message_id, self.model, self.body = response_id, message_id, model, body
        self.created = time.time()
        self.sequence = 0

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def opening(self) -> list[dict[str, Any]]:
        started = response_object(self.response_id, self.message_id, self.model, self.body, None, None, None,
                                  self.created)
        item = {"type": "message", "id": self.message_id, "status": "in_progress", "role": "assistant", "content": []}
        return [self.event("response.created", response=started), self.event("response.in_progress", response=started),
                self.event("response.output_item.added", output_index=0, item=item),
                self.event("response.content_part.added", item_id=self.message_id, output_index=0, content_index=0,
                           part={"type": "output_text", "text": "", "annotations": []})]

    def delta(self, text: str) -> dict[str, Any]:
        return self.event("response.output_text.delta", item_id=self.message_id, output_index=0, content_index=0,
                          delta=text, logprobs=[])

    def closing(self, text: str, finish: str | None, chat_usage: dict[str, Any] | None) -> list[dict[str, Any]]:
        final = response_object(self.response_id, self.message_id, self.model, self.body, text, finish, chat_usage,
                                self.created)
        part = {"type": "output_text", "text": text, "annotations": []}
        return [self.event("response.output_text.done", item_id=self.message_id, output_index=0, content_index=0,
                           text=text, logprobs=[]),
                self.event("response.content_part.done", item_id=self.message_id, output_index=0, content_index=0,
                           part=part),
                self.event("response.output_item.done", output_index=0, item=final["output"][0]),
                self.event("response.completed" if final["status"] == "completed" else "response.incomplete",
                           response=final)]
