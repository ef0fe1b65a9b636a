"""The web playground at `/`, driven in a real browser: Debian's headless Chromium under Playwright. Every
check reads what a user would see (the status line, the transcript, the audio element) and the audio the page
produced is decoded back with PyAV and transcribed. The microphone is Chromium's fake capture device playing
a LibriVox clip (with a pause after it), so live transcription runs end to end too."""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import LiveServer
from tests.helpers import DATA, decode, librivox_clips, normalize, wav_bytes, wer
from tests.realtime_client import load16k, silence

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CLIP, CLIP_TEXT = librivox_clips()[0]  # 7.1 s, "and mister john dashwood had then leisure to consider ..."


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package (apt-get)")
    # The fake microphone loops its file with no gap: the clip, then 2 s of room noise, so each pass is a turn.
    mic = tmp_path_factory.mktemp("mic") / "mic.wav"
    mic.write_bytes(wav_bytes(np.concatenate([load16k(CLIP), silence(2.0)])))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic",  # Playwright gives it a new, empty profile
            # the microphone: Chromium's fake device, playing a real recording in a loop, permission granted
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic}", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.root)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.root) or r.url.startswith(("blob:", "data:"))
            else outside.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/")
    try:
        yield page
    finally:
        context.close()
    assert not outside, f"the playground reached outside the server: {outside}"
    assert not errors, f"script errors on the page: {errors}"


def _sign_in(page: Page, key: str) -> None:
    page.fill("#key", key)
    page.click("#key-save")
    status = page.locator("#key-status")
    expect(status).to_contain_text(re.compile("Key accepted|refused"), timeout=15000)


def _blob(page: Page, selector: str) -> bytes:
    """The bytes behind an element's blob: URL, read inside the page."""
    encoded = page.evaluate("""async (sel) => {
        const buf = new Uint8Array(await (await fetch(document.querySelector(sel).src)).arrayBuffer());
        let s = "";
        for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
        return btoa(s); }""", selector)
    return base64.b64decode(encoded)


def _duration(page: Page, selector: str) -> float:
    """The audio element's duration once the browser has decoded its metadata: the source is playable."""
    return float(page.evaluate("""(sel) => new Promise((ok, bad) => {
        const a = document.querySelector(sel);
        const done = () => ok(a.duration);
        if (a.readyState >= 1) done(); else { a.onloadedmetadata = done; a.onerror = () => bad(a.error.message); }
        a.load(); })""", selector))


def test_page_and_assets_are_served_without_a_key(server: LiveServer) -> None:
    with server.http() as http:
        page = http.get("/", headers={"Authorization": ""})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for asset in re.findall(r'(?:src|href)="(/static/playground/[^"]+)"', page.text):
            r = http.get(asset, headers={"Authorization": ""})
            assert r.status_code == 200 and r.content, asset
        assert "/static/playground/app.js" in page.text


def test_a_bad_key_shows_a_clear_message(page: Page) -> None:
    _sign_in(page, "vg_live_not-a-real-key")
    status = page.locator("#key-status")
    expect(status).to_contain_text("The API key was refused")
    assert "error" in (status.get_attribute("class") or "")
    # the key is kept for this tab only, and a request with it fails with the same clear message
    assert page.evaluate("sessionStorage.getItem('voxgate.key')") == "vg_live_not-a-real-key"
    assert page.evaluate("localStorage.length") == 0
    page.click("button[data-tab=usage]")
    expect(page.locator("#usage-status")).to_contain_text("refused")


def test_upload_a_clip_and_read_the_transcript(page: Page, server: LiveServer) -> None:
    _sign_in(page, server.key)
    page.set_input_files("#stt-file", str(CLIP))
    page.click("#stt-run")
    expect(page.locator("#stt-status")).to_contain_text("Done", timeout=120000)
    text = page.inner_text("#stt-result")
    spoken = " ".join(page.locator("#stt-result .word").all_inner_texts())
    assert wer(CLIP_TEXT, spoken) <= 0.1, text
    assert page.locator("#stt-result .time").first.inner_text() == "00:00:00.000"
    # a click on a word seeks the audio to that word
    word = page.locator("#stt-result .word").nth(4)
    start = float(word.get_attribute("data-start") or "nan")
    word.click()
    assert abs(float(page.evaluate("document.getElementById('stt-audio').currentTime")) - start) < 0.3
    # subtitles download as SRT
    with page.expect_download() as info:
        page.click("#stt-srt")
    srt = Path(info.value.path()).read_text()
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    assert wer(CLIP_TEXT, " ".join(line for line in srt.splitlines() if re.search("[a-z]", line))) <= 0.1


def test_diarize_shows_speakers(page: Page, server: LiveServer) -> None:
    _sign_in(page, server.key)
    page.set_input_files("#stt-file", str(DATA / "diarize_two_voices.wav"))
    page.check("#stt-diarize")
    page.click("#stt-run")
    expect(page.locator("#stt-status")).to_contain_text("Done", timeout=180000)
    speakers = page.locator("#stt-result .speaker").all_inner_texts()
    assert len(set(speakers)) == 2 and len(speakers) >= 5, speakers


def test_speak_streams_and_leaves_a_playable_audio_element(page: Page, server: LiveServer) -> None:
    _sign_in(page, server.key)
    page.click("button[data-tab=speak]")
    text = "The quick brown fox jumps over the lazy dog."
    page.fill("#tts-text", text)
    voices = page.locator("#tts-voice option").all_inner_texts()
    assert any("nova" in v for v in voices) and len(voices) > 13, voices
    page.select_option("#tts-voice", "nova")
    page.click("#tts-run")
    expect(page.locator("#tts-status")).to_contain_text("Done", timeout=60000)
    assert (page.get_attribute("#tts-audio", "src") or "").startswith("blob:")
    assert _duration(page, "#tts-audio") > 1.5
    audio = decode(_blob(page, "#tts-audio"))
    assert audio.sample_rate == 24000 and audio.duration > 1.5
    heard = server.client().audio.transcriptions.create(model="whisper-1", file=("page.wav", _blob(page, "#tts-audio")))
    assert wer(text, heard.text) <= 0.15, heard.text
    # not streamed: the chosen format, as the server sent it
    page.uncheck("#tts-stream")
    page.select_option("#tts-format", "mp3")
    page.click("#tts-run")
    expect(page.locator("#tts-download")).to_contain_text("speech.mp3", timeout=60000)
    assert decode(_blob(page, "#tts-audio")).codec.startswith("mp3") and _duration(page, "#tts-audio") > 1.5


def test_live_transcription_from_the_microphone(page: Page, server: LiveServer) -> None:
    _sign_in(page, server.key)
    page.click("button[data-tab=live]")
    page.fill("#live-language", "en")
    page.click("#live-start")
    finals = page.locator("#live-result p.final")
    deadline = time.monotonic() + 60
    wanted = set(normalize(CLIP_TEXT).split())
    heard: set[str] = set()
    while time.monotonic() < deadline and len(heard & wanted) < 0.8 * len(wanted):
        heard = set(normalize(" ".join(finals.all_inner_texts())).split())
        time.sleep(0.5)
    page.click("#live-stop")
    assert len(heard & wanted) >= 0.8 * len(wanted), (sorted(wanted - heard), finals.all_inner_texts())
    expect(page.locator("#live-status")).to_contain_text("Stopped")


def test_usage_lists_what_the_key_spent(page: Page, server: LiveServer) -> None:
    server.client().audio.speech.create(model="tts-1", voice="alloy", input="Counted.")
    _sign_in(page, server.key)
    page.click("button[data-tab=usage]")
    expect(page.locator("#usage-status")).to_contain_text("requests from")
    assert page.locator("#usage-table tbody tr").count() >= 1
    assert "Credits:" in page.inner_text("#usage-credits")


def test_voice_pipeline_answers_a_spoken_question(page: Page, server: LiveServer,
                                                  tmp_path: Path) -> None:
    pipeline_id = f"pg-{time.monotonic_ns() % 10**8}"
    with server.http() as http:
        created = http.post("/v1/pipelines", json={
            "id": pipeline_id, "stt_model": "whisper-tiny.en", "llm_model": "smollm2-135m", "tts_model": "tts-1",
            "voice": "alloy", "temperature": 0, "max_reply_tokens": 40})
        assert created.status_code == 201, created.text
    question = "What is the capital of France?"
    clip = tmp_path / "question.wav"
    clip.write_bytes(server.client().audio.speech.create(model="tts-1", voice="nova", input=question,
                                                         response_format="wav").content)
    _sign_in(page, server.key)
    page.click("button[data-tab=agent]")
    expect(page.locator(f"#agent-pipelines option[value='{pipeline_id}']")).to_have_count(1)
    page.fill("#agent-pipeline", pipeline_id)
    page.set_input_files("#agent-file", str(clip))
    page.click("#agent-run")
    expect(page.locator("#agent-status")).to_contain_text("Answered", timeout=120000)
    assert wer(question, page.inner_text("#agent-heard")) <= 0.2
    reply = page.inner_text("#agent-reply")
    assert len(reply.split()) >= 3, reply
    assert _duration(page, "#agent-audio") > 0.5
    spoken = server.client().audio.transcriptions.create(model="whisper-1",
                                                         file=("reply.wav", _blob(page, "#agent-audio")))
    assert wer(reply, spoken.text) <= 0.35, (reply, spoken.text)
