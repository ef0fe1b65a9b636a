"""Long-form building blocks without a model: VAD tracking, window planning, stitching, loop guards,
decoded audio on disk and the scheduler's fairness."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from voxgate.asr.chunking import Chunk, ChunkParams, ChunkPlanner, Piece
from voxgate.asr.hallucination import Guard, cut_loops
from voxgate.asr.scheduler import BatchScheduler
from voxgate.asr.segments import split_into_segments
from voxgate.asr.stitch import Stitcher, to_file_time
from voxgate.asr.vad import FRAME, Region, SpeechTracker, VadParams
from voxgate.asr.window import DecodeOptions, LanguageSlot, Window, WindowResult
from voxgate.audio.decode import AudioDecodeError, decode_to_file, pcm_from_array
from voxgate.transcript import Segment, Word

SR = 16000
FPS = SR / FRAME  # VAD frames per second


def frames(seconds: float) -> int:
    return int(round(seconds * FPS))


def plan(probs: np.ndarray, params: ChunkParams | None = None) -> list[Chunk]:
    vad = VadParams()
    tracker = SpeechTracker(vad)
    planner = ChunkPlanner(len(probs) * FRAME, vad, params, lambda a, b: probs[max(0, a):b])
    out: list[Chunk] = []
    for region in tracker.feed(probs) + tracker.finish():
        out += planner.add(region)
    return out + planner.finish()


def test_tracker_closes_regions_at_pauses_with_hysteresis() -> None:
    probs = np.zeros(frames(10), dtype=np.float32)
    probs[frames(1):frames(3)] = 0.9
    probs[frames(2):frames(2) + 2] = 0.4  # above neg_threshold (0.35): stays speech
    probs[frames(5):frames(5.05)] = 0.9  # a 64 ms blip is not speech
    probs[frames(6):frames(8)] = 0.9
    tracker = SpeechTracker(VadParams())
    regions = tracker.feed(probs[:frames(4)]) + tracker.feed(probs[frames(4):]) + tracker.finish()
    assert regions == [Region(frames(1), frames(3)), Region(frames(6), frames(8))]


def test_planner_packs_speech_into_windows_cut_at_pauses() -> None:
    # 3 s utterances separated by 0.5 s pauses for 5 minutes, with a 40 s silence in the middle
    probs = np.zeros(frames(300), dtype=np.float32)
    t = 1.0
    while t < 290:
        if not 120 <= t < 160:
            probs[frames(t):frames(t + 3)] = 0.95
        t += 3.5
    chunks = plan(probs)
    assert all(c.duration <= 30.0 for c in chunks)
    speech = sum(c.duration for c in chunks)
    assert len(chunks) <= int(np.ceil(speech / 27))  # packed close to 30 s
    for a, b in zip(chunks, chunks[1:]):
        assert a.end <= b.start and not b.overlaps_previous
    for c in chunks:  # the 40 s silence is never decoded
        assert not any(p.start / SR < 158 and p.end / SR > 122 for p in c.pieces)
        for p in c.pieces:  # window edges sit at pauses, not inside an utterance
            for edge in (p.start / SR, p.end / SR):
                assert probs[min(frames(edge), len(probs) - 1)] < 0.5 or edge <= 1.0


def test_planner_overlaps_windows_where_nobody_pauses() -> None:
    probs = np.full(frames(70), 0.9, dtype=np.float32)  # 70 s without a single pause
    chunks = plan(probs)
    assert len(chunks) == 3
    assert all(c.duration <= 30.0 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert a.overlaps_next and b.overlaps_previous
        assert 0 < a.end - b.start <= 5.0
    assert chunks[-1].end == pytest.approx(70, abs=0.05)


def test_chunk_maps_window_time_through_shrunk_silence() -> None:
    chunk = Chunk(0, [Piece(10 * SR, 20 * SR), Piece(50 * SR, 55 * SR)])
    assert chunk.to_absolute(4.0) == pytest.approx(14.0)
    assert chunk.to_absolute(12.5) == pytest.approx(52.5)
    assert chunk.to_absolute(10.0, "end") == pytest.approx(20.0)  # an end at the seam stays before it
    assert chunk.to_absolute(10.0, "start") == pytest.approx(50.0)
    assert chunk.to_absolute(99.0, "end") == pytest.approx(55.0)


def _seg(words: list[tuple[str, float, float]]) -> Segment:
    ws = [Word(f" {w}", s, e) for w, s, e in words]
    return Segment(id=0, start=ws[0].start, end=ws[-1].end, text="".join(w.word for w in ws), words=ws)


def test_stitcher_keeps_each_overlapping_word_once_and_moves_forward() -> None:
    a = Chunk(0, [Piece(0, 30 * SR)], overlaps_next=True)
    b = Chunk(1, [Piece(26 * SR, 50 * SR)], overlaps_previous=True)
    stitcher = Stitcher(keep_words=True)
    first = _seg([("one", 24.0, 24.5), ("two", 26.5, 27.0), ("three", 28.5, 29.0), ("fo", 29.6, 30.0)])
    second = _seg([("three", 2.4, 3.0), ("four", 3.6, 4.2), ("five", 5.0, 5.5)])  # window time: +26 s
    assert stitcher.add(a, [first]) == []  # held until the overlap is resolved
    out = stitcher.add(b, to_file_time(b, [second])) + stitcher.finish()
    words = [w.word.strip() for s in out for w in s.words]
    assert words == ["one", "two", "four", "five"] or words == ["one", "two", "three", "four", "five"]
    assert words.count("three") <= 1 and "fo" not in words
    starts = [w.start for s in out for w in s.words]
    assert starts == sorted(starts) and all(s.start <= s.end for s in out)


def test_loop_guard_cuts_repetition_and_repeated_segments() -> None:
    seg = Segment(id=0, start=0, end=10, text=" I think so." + " and then we went home" * 6 + " the end.")
    assert cut_loops(seg) == 25
    assert seg.text.count("went home") == 1 and seg.text.endswith("the end.")
    guard = Guard()
    result = WindowResult([], "en", 1.0)
    texts = [" Thank you very much."] * 4 + [" Goodbye now."]
    kept = guard.screen(result, [Segment(id=i, start=i, end=i + 1, text=t) for i, t in enumerate(texts)])
    assert [s.text for s in kept] == texts[:2] + texts[4:]
    silent = WindowResult([], "en", 1.0, avg_logprob=-1.5, no_speech_prob=0.9)
    assert guard.screen(silent, [Segment(id=0, start=0, end=2, text=" Subtitles by the community.")]) == []
    assert len(guard.dropped) == 3


def test_segments_are_cut_at_sentence_ends_pauses_and_length() -> None:
    spec = [("And", 0.0, 0.2), ("Mr.", 0.3, 0.5), ("Smith", 0.5, 0.9), ("left.", 0.9, 1.2), ("Then", 1.4, 1.6),
            ("rain", 1.6, 1.9), ("fell", 1.9, 2.2), ("hard", 4.0, 4.3), ("and", 4.3, 4.4), ("long.", 4.4, 4.8)]
    words = [(Word(f" {w}", s, e), [i]) for i, (w, s, e) in enumerate(spec)]
    whole = Segment(id=0, start=0, end=5, text="".join(w.word for w, _ in words))
    segments = split_into_segments(whole, words)
    assert [s.text.strip() for s in segments] == ["And Mr. Smith left.", "Then rain fell", "hard and long."]
    assert segments[1].start == pytest.approx(1.4) and segments[1].end == pytest.approx(2.2)
    assert [t for s in segments for t in s.tokens] == list(range(len(spec)))


def test_pcm_file_reads_windows_and_frees_its_file(tmp_path: Path) -> None:
    audio = np.sin(np.arange(SR * 3) / 10).astype(np.float32)
    pcm = pcm_from_array(audio, tmp_path)
    assert len(pcm) == len(audio) and pcm.duration == pytest.approx(3.0)
    assert np.array_equal(pcm.read(100, 200), audio[100:200])
    assert len(pcm.read(SR * 3 - 10, SR * 10)) == 10
    assert list(tmp_path.iterdir()) == []  # unlinked at once: nothing to leak
    pcm.close()
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    with pytest.raises(AudioDecodeError):
        decode_to_file(wav, tmp_path)


class _FakeEngine:
    """Records batches; each batch takes a little time, like a model would."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def decode(self, windows: list[Window]) -> list[WindowResult]:
        self.batches.append([w.opts.prompt or "" for w in windows])
        time.sleep(0.05)
        return [WindowResult([], "en", 1.0) for _ in windows]


def _window(tag: str) -> Window:
    return Window(np.zeros((1, 1), np.float32), 1.0, DecodeOptions(prompt=tag), LanguageSlot("en"))


def test_scheduler_serves_a_short_request_in_the_next_batch() -> None:
    engine = _FakeEngine()
    scheduler = BatchScheduler(engine, workers=1, batch_size=4, linger_s=0.2)  # type: ignore[arg-type]
    long_lane = scheduler.lane(limit=8)
    futures: list[Future[WindowResult]] = []

    def produce() -> None:
        for i in range(40):
            futures.append(long_lane.submit(_window(f"long{i}")))
        long_lane.close()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.2)
    with scheduler.lane() as short:
        submitted_at = len(engine.batches)
        done = short.submit(_window("short"))
    done.result(timeout=5)
    producer.join(timeout=10)
    for f in futures:
        f.result(timeout=10)
    position = next(i for i, b in enumerate(engine.batches) if "short" in b)
    assert position <= submitted_at + 1, engine.batches  # not behind the other queued windows
    assert all(len(b) <= 4 for b in engine.batches)
