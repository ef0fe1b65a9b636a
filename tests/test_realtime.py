"""Realtime transcription over WebSocket (issue 14), driven by the official SDK's realtime client: LibriVox
speech streamed live gets deltas before each turn ends and completed transcripts that match, server_vad and
manual commit both work, bad events get `error` events and the session goes on, and auth, limits and
metering hold."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import av
import httpx
import numpy as np
import openai
import pytest
import websockets.exceptions
import websockets.sync.client as ws_client

from tests.conftest import LiveServer
from tests.helpers import librivox_clips, normalize, wer
from tests.realtime_client import load16k, pcm24, silence, stream
from tests.test_gateway import keyed, ledger, new_key

VAD = {"type": "transcription", "audio": {"input": {
    "format": {"type": "audio/pcm", "rate": 24000},
    "transcription": {"model": "whisper-1", "language": "en"},
    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500},
}}}
MANUAL = {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"},
                                                      "turn_detection": None}}}


def _clip(index: int) -> tuple[np.ndarray, str]:
    path, text = librivox_clips()[index]
    return load16k(path), text


@pytest.fixture(scope="module")
def two_turns() -> tuple[bytes, list[str]]:
    """Two LibriVox utterances with a 1.2 s pause between them, then silence: two server_vad turns."""
    (a, text_a), (b, text_b) = _clip(0), _clip(2)
    audio = np.concatenate([silence(0.5), a, silence(1.2), b, silence(1.5)])
    return pcm24(audio), [text_a, text_b]


def _ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/realtime?intent=transcription"


def test_server_vad_turns_stream_deltas_then_completed_transcripts(client: openai.OpenAI,
                                                                   two_turns: tuple[bytes, list[str]]) -> None:
    audio, texts = two_turns
    rec = stream(client, audio, VAD, pace=1.0, items=2)  # in real time, as a microphone sends it
    kinds = [e.type for _, e in rec.events]
    assert kinds[0] == "session.created" and "session.updated" in kinds
    assert not rec.of("error"), rec.of("error")
    started, stopped, committed = (rec.of("input_audio_buffer.speech_started"),
                                   rec.of("input_audio_buffer.speech_stopped"), rec.of("input_audio_buffer.committed"))
    assert len(started) == len(stopped) == len(committed) == 2, kinds
    assert committed[0].previous_item_id is None and committed[1].previous_item_id == committed[0].item_id
    # the first turn begins about 0.5 s in (minus the 300 ms prefix padding) and ends before the pause
    assert 0 <= started[0].audio_start_ms <= 500 and stopped[0].audio_end_ms < started[1].audio_start_ms
    completed = rec.completed()
    assert [c.item_id for c in completed] == [c.item_id for c in committed]
    for item, text in zip(completed, texts):
        assert wer(text, item.transcript) <= 0.15, (text, item.transcript)
        assert item.usage.type == "duration" and item.usage.seconds > 1
        # deltas arrived while the turn was still being spoken and say what was said; when the transcript
        # begins with the drafts' words (the usual case), the last delta completes it
        deltas = [(t, e) for t, e in rec.events
                  if e.type == "conversation.item.input_audio_transcription.delta" and e.item_id == item.item_id]
        stop_at = next(t for t, e in rec.events
                       if e.type == "input_audio_buffer.speech_stopped" and e.item_id == item.item_id)
        assert deltas and deltas[0][0] < stop_at, "no delta before the turn ended"
        drafted = normalize("".join(e.delta for t, e in deltas if t < stop_at))
        joined = normalize("".join(e.delta for _, e in deltas))
        assert wer(text, joined) <= 0.3, joined
        if normalize(item.transcript).startswith(drafted):
            assert joined == normalize(item.transcript)


def test_manual_commit_and_clear(client: openai.OpenAI) -> None:
    clip, text = _clip(1)
    rec = stream(client, pcm24(clip), MANUAL, pace=8.0, commit=True, items=1)
    assert not rec.of("input_audio_buffer.speech_started"), "no VAD events when the client commits"
    assert len(rec.of("input_audio_buffer.committed")) == 1
    (done,) = rec.completed()
    assert wer(text, done.transcript) <= 0.15, done.transcript
    assert done.languages and done.languages[0].code == "en"

    with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        conn.session.update(session=MANUAL)  # type: ignore[arg-type]
        conn.input_audio_buffer.commit()  # nothing appended yet
        conn.input_audio_buffer.append(audio=base64.b64encode(pcm24(clip)[:48000]).decode())
        conn.input_audio_buffer.clear()
        conn.input_audio_buffer.commit()  # cleared: empty again
        events = _until(conn, lambda seen: sum(e.type == "error" for e in seen) >= 2)
    errors = [e for e in events if e.type == "error"]
    assert [e.error.code for e in errors] == ["input_audio_buffer_commit_empty"] * 2
    assert any(e.type == "input_audio_buffer.cleared" for e in events)


def test_g711_mulaw_input(client: openai.OpenAI) -> None:
    clip, text = _clip(4)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
    encoder = av.CodecContext.create("pcm_mulaw", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 8000, "mono", "s16"  # type: ignore[attr-defined]
    frame = av.AudioFrame.from_ndarray((clip * 32767).astype("<i2").reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 16000
    ulaw = b"".join(bytes(p) for f in resampler.resample(frame) for p in encoder.encode(f))  # type: ignore[attr-defined]
    session = {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"},
                                                            "transcription": {"model": "whisper-1", "language": "en"},
                                                            "turn_detection": None}}}
    rec = stream(client, ulaw, session, pace=8.0, bytes_per_s=8000, commit=True, items=1)
    (done,) = rec.completed()
    assert wer(text, done.transcript) <= 0.2, done.transcript


def _until(conn: Any, enough: Any, timeout_s: float = 30) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout_s
    for event in conn:
        seen.append(event)
        if enough(seen) or time.monotonic() > deadline:
            break
    return seen


def test_bad_events_get_error_events_and_the_session_goes_on(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.key}"}
    with ws_client.connect(_ws_url(server), additional_headers=headers) as ws:
        assert json.loads(ws.recv(10))["type"] == "session.created"
        sent = [
            "not json",
            json.dumps({"type": "response.create", "event_id": "evt_1"}),
            json.dumps({"type": "input_audio_buffer.append", "audio": "***", "event_id": "evt_2"}),
            json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
                "format": {"type": "audio/wav"}}}}, "event_id": "evt_3"}),
            json.dumps({"type": "session.update", "session": {"audio": {"input": {"transcription": {
                "model": "no-such-model"}}}}, "event_id": "evt_4"}),
            json.dumps({"type": "session.update", "session": {"bogus": 1}, "event_id": "evt_5"}),
            json.dumps({"type": "transcription_session.update", "session": {}, "event_id": "evt_6"}),
        ]
        for message in sent:
            ws.send(message)
        errors = [json.loads(ws.recv(10)) for _ in sent]
        assert all(e["type"] == "error" for e in errors), errors
        codes = [e["error"]["code"] for e in errors]
        assert codes == ["invalid_json", "unknown_event", "invalid_base64", "invalid_value", "model_not_found",
                         "unknown_parameter", "unknown_event"], codes
        assert [e["error"]["event_id"] for e in errors[1:]] == [f"evt_{i}" for i in range(1, 7)]
        assert errors[3]["error"]["param"] == "session.audio.input.format.type"
        # still alive: a good update is applied
        ws.send(json.dumps({"type": "session.update", "session": MANUAL}))
        updated = json.loads(ws.recv(10))
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["input"]["turn_detection"] is None


def test_auth_subprotocol_and_request_id(server: LiveServer) -> None:
    for headers in ({}, {"Authorization": "Bearer vg_wrong"}):
        with pytest.raises(Exception) as refused:
            ws_client.connect(_ws_url(server), additional_headers=headers).close()
        response = getattr(refused.value, "response", None)
        assert response is not None and response.status_code == 401, refused.value
        assert json.loads(response.body)["error"]["code"] in ("missing_api_key", "invalid_api_key")
    with ws_client.connect(_ws_url(server), subprotocols=["realtime", f"openai-insecure-api-key.{server.key}"]) as ws:
        assert ws.subprotocol == "realtime"
        assert ws.response.headers["x-request-id"].startswith("req_")
        assert json.loads(ws.recv(10))["type"] == "session.created"
    with pytest.raises(Exception) as wrong_intent:
        ws_client.connect(_ws_url(server).replace("intent=transcription", "intent=chat"),
                          additional_headers={"Authorization": f"Bearer {server.key}"}).close()
    assert wrong_intent.value.response.status_code == 400  # type: ignore[attr-defined]


def test_sessions_per_key_are_capped(server: LiveServer) -> None:
    _, key = new_key(server)
    headers = {"Authorization": f"Bearer {key}"}
    opened = [ws_client.connect(_ws_url(server), additional_headers=headers) for _ in range(4)]
    try:
        with pytest.raises(Exception) as refused:
            ws_client.connect(_ws_url(server), additional_headers=headers).close()
        assert refused.value.response.status_code == 429  # type: ignore[attr-defined]
        assert json.loads(refused.value.response.body)["error"]["code"] == "too_many_sessions"  # type: ignore
    finally:
        for ws in opened:
            ws.close()
    time.sleep(0.3)
    with ws_client.connect(_ws_url(server), additional_headers=headers) as ws:  # a closed one is given back
        assert json.loads(ws.recv(10))["type"] == "session.created"


def test_audio_seconds_are_metered_and_credits_enforced(server: LiveServer) -> None:
    clip, _ = _clip(1)
    key_id, key = new_key(server, credits=1.0)
    rec = stream(keyed(server, key), pcm24(clip), MANUAL, pace=8.0, commit=True, items=1)
    assert rec.completed()
    rows = _wait_rows(server, key_id, sum(1 for _ in [0]))
    assert sum(r["units"] for r in rows) == int(np.ceil(len(clip) / 16000))
    assert {r["model"] for r in rows} == {"whisper-base"} and {r["unit"] for r in rows} == {"seconds"}

    poor_id, poor = new_key(server, credits=0.0002)  # two seconds of whisper-base
    with keyed(server, poor).realtime.connect(extra_query={"intent": "transcription"}) as conn:
        conn.session.update(session=MANUAL)  # type: ignore[arg-type]
        audio = pcm24(clip)
        for i in range(0, 48000 * 4, 4800):
            conn.input_audio_buffer.append(audio=base64.b64encode(audio[i:i + 4800]).decode())
        events = _until(conn, lambda seen: any(e.type == "error" for e in seen))
    assert [e.error.code for e in events if e.type == "error"][0] == "insufficient_credits"
    rows = _wait_rows(server, poor_id, 1)
    assert sum(r["units"] for r in rows) == 2


def _wait_rows(server: LiveServer, key_id: str, n: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:
        rows = ledger(server, key_id)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_plain_http_get_is_not_a_websocket(server: LiveServer) -> None:
    r = httpx.get(f"{server.root}/v1/realtime?intent=transcription", headers={"Authorization": f"Bearer {server.key}"})
    assert r.status_code in (400, 404, 426)


def test_a_scoped_key_keeps_to_its_model(server: LiveServer) -> None:
    _, key = new_key(server, pipeline="whisper-tiny.en")
    with keyed(server, key).realtime.connect(extra_query={"intent": "transcription"}) as conn:
        created = next(iter(conn))
        assert created.type == "session.created"
        assert created.session.audio.input.transcription.model == "whisper-tiny.en"  # type: ignore[union-attr]
        conn.session.update(session={"type": "transcription", "audio": {"input": {"transcription": {
            "model": "whisper-1"}}}})  # type: ignore[arg-type]
        (error,) = [e for e in _until(conn, lambda seen: bool(seen)) if e.type == "error"]
    assert error.error.code == "forbidden" and error.error.param == "session.audio.input.transcription.model"


# -- a conversation with a voice pipeline -----------------------------------------------------------------------

FAST_PIPELINE = {"stt_model": "whisper-tiny.en", "llm_model": "smollm2-135m", "tts_model": "tts-1",
                 "voice": "alloy", "temperature": 0}


def _pipeline(server: LiveServer, **fields: Any) -> str:
    pipeline_id = f"rt-{time.monotonic_ns() % 10**8}"
    with server.http() as http:
        r = http.post("/v1/pipelines", json={"id": pipeline_id, **FAST_PIPELINE, **fields})
    assert r.status_code == 201, r.text
    return pipeline_id


def _spoken(client: openai.OpenAI, text: str) -> np.ndarray:
    return load16k(client.audio.speech.create(model="kokoro", voice="af_heart", input=text,
                                              response_format="wav").content)


def _send(conn: Any, samples: np.ndarray, pace: float = 4.0) -> None:
    data = pcm24(samples)
    for i in range(0, len(data), 4800):
        conn.input_audio_buffer.append(audio=base64.b64encode(data[i:i + 4800]).decode())
        time.sleep(0.1 / pace)


def test_a_pipeline_conversation_answers_aloud(server: LiveServer, client: openai.OpenAI) -> None:
    pipeline_id = _pipeline(server, system_prompt="Answer in one short sentence.")
    question = _spoken(client, "What is the capital of France?")
    with client.realtime.connect(model=pipeline_id) as conn:
        _send(conn, np.concatenate([silence(0.3), question, silence(1.0)]))
        events = _until(conn, lambda seen: any(e.type == "response.done" for e in seen), timeout_s=60)
    kinds = [e.type for e in events]
    assert kinds[0] == "session.created" and events[0].session.type == "realtime"
    assert events[0].session.model == pipeline_id
    (heard,) = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
    assert "capital" in heard.transcript.lower() and "france" in heard.transcript.lower()
    assert kinds.index("response.created") > kinds.index("conversation.item.input_audio_transcription.completed")
    reply = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    (done,) = [e for e in events if e.type == "response.done"]
    assert done.response.status == "completed" and done.response.usage.output_tokens > 0
    assert reply.strip()
    pcm = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    assert len(samples) / 24000 > 0.5
    from tests.helpers import wav_bytes
    said = client.audio.transcriptions.create(model="whisper-1", file=("r.wav", wav_bytes(samples, 24000))).text
    assert wer(reply, said) <= 0.35, (reply, said)


def test_speech_during_a_reply_interrupts_it(server: LiveServer, client: openai.OpenAI) -> None:
    pipeline_id = _pipeline(server, system_prompt="Tell very long, detailed stories.", max_reply_tokens=400)
    ask, interrupt = _spoken(client, "Tell me a long story about a dragon."), _spoken(client, "Stop please.")
    with client.realtime.connect(model=pipeline_id) as conn:
        _send(conn, np.concatenate([silence(0.3), ask, silence(0.8)]))
        first = _until(conn, lambda seen: any(e.type == "response.output_audio.delta" for e in seen), timeout_s=60)
        _send(conn, np.concatenate([interrupt, silence(0.8)]))
        rest = _until(conn, lambda seen: sum(e.type == "response.done" for e in seen) >= 2, timeout_s=60)
    events = first + rest
    done = [e for e in events if e.type == "response.done"]
    assert done[0].response.status == "cancelled", [d.response.status for d in done]
    kinds = [e.type for e in events]
    barge_in = kinds.index("input_audio_buffer.speech_started", kinds.index("response.created"))
    assert barge_in < kinds.index("response.done")
    assert done[1].response.status == "completed"


def test_session_bounds(tmp_path: Any) -> None:
    """A manual buffer past its limit gets an error, an idle session is closed with one, and so is one that
    reaches its maximum length."""
    from tests.conftest import start_server, stop_server

    live = start_server(tmp_path / "bounded", {"VOXGATE_REALTIME_MAX_BUFFER_S": "2",
                                               "VOXGATE_REALTIME_IDLE_TIMEOUT_S": "1.5",
                                               "VOXGATE_REALTIME_MAX_SESSION_S": "4"})
    try:
        headers = {"Authorization": f"Bearer {live.key}"}
        with ws_client.connect(_ws_url(live), additional_headers=headers) as ws:
            assert json.loads(ws.recv(10))["type"] == "session.created"
            ws.send(json.dumps({"type": "session.update", "session": MANUAL}))
            assert json.loads(ws.recv(10))["type"] == "session.updated"
            second = base64.b64encode(bytes(48000)).decode()  # 1 s of pcm16 at 24 kHz
            for _ in range(3):
                ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": second}))
            error = json.loads(ws.recv(10))
            assert error["type"] == "error" and error["error"]["code"] == "buffer_full", error
            idle = json.loads(ws.recv(10))  # then nothing more is sent
            assert idle["error"]["code"] == "idle_timeout"
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                ws.recv(5)
        with ws_client.connect(_ws_url(live), additional_headers=headers) as ws:
            ws.recv(10)
            stop = threading.Event()

            def busy() -> None:  # never idle: only the session's length can end it
                while not stop.wait(0.5):
                    try:
                        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
                    except websockets.exceptions.ConnectionClosed:
                        return

            sender = threading.Thread(target=busy, daemon=True)
            sender.start()
            codes = []
            try:
                while True:  # every message sent before the close is read before ConnectionClosed
                    message = json.loads(ws.recv(15))
                    codes.append(message.get("error", {}).get("code"))
            except websockets.exceptions.ConnectionClosed:
                pass
            finally:
                stop.set()
                sender.join(5)
            code = codes[-1] if codes else None
            assert code == "session_expired"
    finally:
        stop_server(live)
