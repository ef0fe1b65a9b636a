"""The checks a chat request passes before any credit is held (voxgate.llm.request), and the cutting of a
streamed reply into speakable pieces (voxgate.pipelines.sentences): pure functions, no server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voxgate.errors import APIError
from voxgate.llm.request import ChatLimits, parse_turn
from voxgate.models.catalog import ModelSpec
from voxgate.pipelines.sentences import SentenceSplitter, last_sentence_end, speakable

EMBEDDED = ModelSpec(id="tiny-llm", engine="llama-cpp", task="chat", path=Path("/x.gguf"))
UPSTREAM = ModelSpec(id="hosted", engine="openai-compatible", task="chat", path=Path(""),
                     options={"base_url": "http://up/v1", "upstream_model": "gpt-up"})
LIMITS = ChatLimits(max_tokens=100, max_messages=4, context=512)
HI = [{"role": "user", "content": "hi"}]


def _error(spec: ModelSpec, body: dict[str, Any]) -> APIError:
    with pytest.raises(APIError) as err:
        parse_turn(spec, body, LIMITS)
    return err.value


def test_the_embedded_payload_holds_only_what_llama_cpp_honours() -> None:
    turn = parse_turn(EMBEDDED, {"model": "tiny-llm", "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]}],
        "max_completion_tokens": 500, "temperature": 0.5, "stop": "END", "stream": True}, LIMITS)
    assert turn.payload["messages"] == [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Hello there"}]
    assert turn.max_tokens == 100 and turn.payload["max_tokens"] == 100  # the server's cap
    assert turn.payload["stop"] == ["END"] and turn.payload["temperature"] == 0.5
    assert turn.payload["stream_options"] == {"include_usage": True} and not turn.include_usage
    assert turn.hold_tokens == turn.prompt_estimate + 100 and turn.prompt_estimate > 0


def test_an_upstream_gets_every_field_under_its_own_model_name() -> None:
    turn = parse_turn(UPSTREAM, {"model": "hosted", "messages": HI, "tools": [{"type": "function"}], "top_k": 3,
                                 "max_completion_tokens": 20}, LIMITS)
    assert turn.payload["model"] == "gpt-up" and turn.payload["tools"] and turn.payload["top_k"] == 3
    assert turn.payload["max_completion_tokens"] == 20 and "max_tokens" not in turn.payload


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}] * 5}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": []}]}, "messages[0]"),
    ({"messages": HI, "tools": []}, "tools"),
    ({"messages": HI, "n": 3}, "n"),
    ({"messages": HI, "temperature": float("nan")}, "temperature"),
    ({"messages": HI, "top_p": 1.5}, "top_p"),
    ({"messages": HI, "stop": []}, "stop"),
    ({"messages": HI, "max_tokens": True}, "max_tokens"),
    ({"messages": HI, "seed": "7"}, "seed"),
    ({"messages": HI, "stream": "yes"}, "stream"),
    ({"messages": HI, "stream_options": {"include_usage": True, "other": 1}}, "stream_options"),
    ({"messages": HI, "response_format": {"type": "xml"}}, "response_format"),
    ({"messages": [{"role": "user", "content": "x" * 5000}]}, "messages"),
])
def test_bad_fields_are_named(body: dict[str, Any], param: str) -> None:
    err = _error(EMBEDDED, body)
    assert err.status == 400 and err.param == param, err.message


def test_a_reply_is_cut_into_speakable_pieces_as_it_streams() -> None:
    splitter = SentenceSplitter()
    pieces: list[str] = []
    for token in ["Paris", " is", " the", " capital", " of", " France", ",", " and", " its", " largest", " city",
                  ".", " It", " has", " two", " million", " people", ".", " Lovely", "!"]:
        pieces += splitter.feed(token)
    assert pieces == ["Paris is the capital of France,", "and its largest city.", "It has two million people."]
    assert splitter.flush() == "Lovely!"


def test_a_short_clause_waits_for_more_and_markup_is_not_read() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Yes, ") == []  # too short to be spoken alone
    assert splitter.feed("of course. ") == ["Yes, of course."]
    assert speakable("**Bold** and `code`\n- a bullet [link](http://x)") == "Bold and code a bullet link"
    assert last_sentence_end("One. Two") == 4 and last_sentence_end("no end") == 0
