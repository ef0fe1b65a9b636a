"""Speaker diarization on a two-voice fixture (real LibriVox reader + Piper joe), plus the
transcript-labelling logic on hand-made data. Runs the bundled ONNX models on CPU in seconds."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from voxgate.diarize import (
    DiarizationOptions,
    SpeakerEmbedder,
    SpeakerTurn,
    assign_speakers,
    diarize,
    match_known_speakers,
)
from voxgate.diarize.embedding import log_mel
from voxgate.transcript import Segment, Transcript, Word

DATA = Path(__file__).resolve().parent.parent / "data"


def _read(name: str) -> np.ndarray:
    with wave.open(str(DATA / name), "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return _read("diarize_two_voices.wav")


@pytest.fixture(scope="module")
def truth() -> list[dict]:
    return json.loads((DATA / "diarize_two_voices.json").read_text())["turns"]


@pytest.fixture(scope="module")
def turns(audio: np.ndarray) -> list[SpeakerTurn]:
    return diarize(audio)


def test_finds_two_speakers_in_order_of_appearance(turns: list[SpeakerTurn]) -> None:
    assert len({t.speaker for t in turns}) == 2
    assert turns[0].speaker == 0
    assert all(a.end <= b.start for a, b in zip(turns, turns[1:]))


def test_turn_boundaries_match_truth(turns: list[SpeakerTurn], truth: list[dict]) -> None:
    assert len(turns) == len(truth)
    mapping: dict[str, int] = {}
    for hyp, ref in zip(turns, truth):
        assert abs(hyp.start - ref["start"]) <= 0.5, (hyp, ref)
        assert abs(hyp.end - ref["end"]) <= 0.5, (hyp, ref)
        assert mapping.setdefault(ref["speaker"], hyp.speaker) == hyp.speaker
    assert sorted(mapping.values()) == [0, 1]


def test_is_deterministic(audio: np.ndarray, turns: list[SpeakerTurn]) -> None:
    assert diarize(audio) == turns


def test_known_speakers_are_named(audio: np.ndarray, turns: list[SpeakerTurn],
                                  truth: list[dict]) -> None:
    ref_a, ref_b = _read("ref_speaker_a.wav"), _read("ref_speaker_b.wav")
    index_of_a = turns[0].speaker if truth[0]["speaker"] == "A" else 1 - turns[0].speaker
    names = match_known_speakers(audio, turns, {"bob": ref_b, "alice": ref_a})
    assert names == {index_of_a: "alice", 1 - index_of_a: "bob"}
    # Only Bob enrolled: Alice's voice must not be given Bob's (or any) name.
    assert match_known_speakers(audio, turns, {"bob": ref_b}) == {1 - index_of_a: "bob"}
    # A precomputed embedding works as a reference too.
    emb = SpeakerEmbedder().embed(ref_a)
    assert match_known_speakers(audio, turns, {"alice": emb}) == {index_of_a: "alice"}


def test_speaker_count_hints_are_honoured(audio: np.ndarray) -> None:
    one = diarize(audio, max_speakers=1)
    assert {t.speaker for t in one} == {0}
    three = diarize(audio, min_speakers=3)
    assert len({t.speaker for t in three}) == 3
    assert len({t.speaker for t in diarize(audio, min_speakers=2, max_speakers=2)}) == 2
    with pytest.raises(ValueError):
        diarize(audio, min_speakers=3, max_speakers=2)


def test_precomputed_speech_regions(audio: np.ndarray, truth: list[dict]) -> None:
    speech = [(t["start"], t["end"]) for t in truth]
    got = diarize(audio, speech=speech)
    flat = [x for t in got for x in (t.start, t.end)]
    assert flat == pytest.approx([x for pair in speech for x in pair], abs=0.01)
    assert [t.speaker for t in got] == [0, 1, 0, 1, 0]


def test_telephone_band_audio(audio: np.ndarray, truth: list[dict]) -> None:
    from scipy.signal import resample_poly

    narrow = resample_poly(audio, 1, 2).astype(np.float32)  # 8 kHz: nothing above 4 kHz
    got = diarize(narrow, sample_rate=8000)
    assert [t.speaker for t in got] == [0, 1, 0, 1, 0]
    for hyp, ref in zip(got, truth):
        assert abs(hyp.start - ref["start"]) <= 0.5 and abs(hyp.end - ref["end"]) <= 0.5
    refs = {"alice": _read("ref_speaker_a.wav"), "bob": _read("ref_speaker_b.wav")}
    names = match_known_speakers(narrow, got, refs, sample_rate=8000)
    assert names == {0: "alice", 1: "bob"}


def test_silence_and_tiny_inputs() -> None:
    assert diarize(np.zeros(16000 * 3, dtype=np.float32)) == []
    assert diarize(np.zeros(100, dtype=np.float32)) == []
    assert diarize(np.zeros(16000, dtype=np.float32), speech=[]) == []


def test_features_match_librosa(audio: np.ndarray) -> None:
    """The reference is `librosa.feature.melspectrogram(n_fft=512, win_length=400, hop_length=160, n_mels=40,
    window="hamming", center=False, power=2.0)` rebuilt from librosa's filterbank and SciPy's window: the same
    numbers (checked to 2e-7), without the half minute numba spends compiling librosa's framing on a clean CI."""
    librosa = pytest.importorskip("librosa")
    signal = pytest.importorskip("scipy.signal")
    clip = audio[: 16000 * 3]
    window = np.pad(signal.get_window("hamming", 400, fftbins=True), 56)  # centred in the 512-point frame
    frames = np.lib.stride_tricks.sliding_window_view(clip, 512)[::160]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    ref = power @ librosa.filters.mel(sr=16000, n_fft=512, n_mels=40).T
    np.testing.assert_allclose(log_mel(clip), np.log10(ref + 1e-10), atol=1e-3)


def _w(word: str, start: float, end: float) -> Word:
    return Word(word=word, start=start, end=end, probability=0.9)


def _transcript() -> Transcript:
    seg0 = Segment(id=0, start=0.0, end=4.0, text=" Hello there. Hi, how are you?",
                   tokens=[1, 2, 3], words=[_w(" Hello", 0.0, 0.5), _w(" there.", 0.5, 1.2),
                                            _w(" Hi,", 2.1, 2.5), _w(" how", 2.5, 2.8),
                                            _w(" are", 2.8, 3.1), _w(" you?", 3.1, 3.6)])
    seg1 = Segment(id=1, start=4.0, end=6.0, text=" Fine.", words=[_w(" Fine.", 4.2, 4.8)])
    seg2 = Segment(id=2, start=6.0, end=8.0, text=" Good.")  # no word timings
    return Transcript(task="transcribe", language="en", duration=8.0,
                      segments=[seg0, seg1, seg2])


def test_assign_speakers_splits_segments_and_labels_by_first_appearance() -> None:
    # Speaker index 1 talks first in the transcript, so it becomes "Speaker 1".
    turns = [SpeakerTurn(0.0, 1.8, 1), SpeakerTurn(1.9, 3.7, 0), SpeakerTurn(4.1, 5.0, 1),
             SpeakerTurn(6.2, 7.9, 0)]
    original = _transcript()
    out = assign_speakers(original, turns)
    assert [s.text for s in out.segments] == [" Hello there.", " Hi, how are you?", " Fine.",
                                              " Good."]
    assert [s.speaker for s in out.segments] == ["Speaker 1", "Speaker 2", "Speaker 1",
                                                 "Speaker 2"]
    assert [s.id for s in out.segments] == [0, 1, 2, 3]
    assert (out.segments[0].start, out.segments[0].end) == (0.0, 1.2)
    assert (out.segments[1].start, out.segments[1].end) == (2.1, 4.0)
    assert all(w.speaker == s.speaker for s in out.segments for w in s.words)
    assert out.text == original.text
    # The input is left untouched.
    assert original.segments[0].speaker is None and len(original.segments) == 3
    assert original.segments[0].words[0].speaker is None

    named = assign_speakers(original, turns, known={0: "Alice"})
    assert [s.speaker for s in named.segments] == ["Speaker 1", "Alice", "Speaker 1", "Alice"]


def test_assign_speakers_word_outside_turns_takes_nearest() -> None:
    turns = [SpeakerTurn(0.0, 1.0, 0), SpeakerTurn(5.0, 6.0, 1)]
    t = Transcript(task="transcribe", language="en", duration=6.0, segments=[
        Segment(id=0, start=0.0, end=6.0, text=" a b",
                words=[_w(" a", 1.2, 1.4), _w(" b", 4.5, 4.8)])])
    out = assign_speakers(t, turns)
    assert [s.speaker for s in out.segments] == ["Speaker 1", "Speaker 2"]
    assert assign_speakers(t, []).segments[0].speaker is None


def test_options_are_tunable(audio: np.ndarray) -> None:
    coarse = diarize(audio, options=DiarizationOptions(step=0.4))
    assert len({t.speaker for t in coarse}) == 2
