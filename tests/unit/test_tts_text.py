"""Text splitting for streamed speech: where pieces end decides both first-byte time and intonation."""

from __future__ import annotations

from pathlib import Path

from voxgate.tts.kokoro import seam_kind
from voxgate.tts.text import CLAUSE_REACH, SHORT_WORD, split_for_streaming, split_sentences


def test_sentences_keep_abbreviations_and_initials() -> None:
    assert split_sentences("Mr. Smith met Dr. J. Watson. They talked!\nThen left?") == [
        "Mr. Smith met Dr. J. Watson.", "They talked!", "Then left?"]


def test_long_first_sentence_is_cut_at_a_clause_break() -> None:
    text = ("Open models for recognizing speech have improved a great deal over the last few years, and they now "
            "run on ordinary computers. Second sentence here.")
    pieces = split_for_streaming(text)
    assert pieces[0].endswith("years,") and pieces[1].startswith("and they")
    assert " ".join(pieces) == text


def test_moderate_sentence_without_clause_break_is_not_cut_mid_clause() -> None:
    text = "The committee finally agreed on a plan that nobody in the whole building had expected to see today."
    assert split_for_streaming(text) == [text]


def test_very_long_sentence_without_breaks_is_cut_at_a_word() -> None:
    text = " ".join(["word"] * 60) + "."
    pieces = split_for_streaming(text)
    assert len(pieces) > 1 and len(pieces[0]) <= 100 and " ".join(pieces) == text


def test_phoneme_runs_are_bounded_and_cut_after_a_word() -> None:
    from voxgate.tts.engine import phoneme_runs

    word = list("abcdefg")
    phonemes = (word + [" "]) * 100  # 800 phonemes, a word break every 8
    runs = list(phoneme_runs(phonemes, 256))
    assert sum(runs, []) == phonemes and all(len(r) <= 256 for r in runs)
    assert all(r[-1] == " " for r in runs[:-1])  # each cut after a word break
    solid = ["x"] * 600  # no word break at all: cut at the limit
    assert [len(r) for r in phoneme_runs(solid, 256)] == [256, 256, 88]
    assert list(phoneme_runs(["a"], 256)) == [["a"]]


def test_a_run_of_emoji_is_synthesised_in_bounded_calls(tmp_path: Path) -> None:
    """150 emoji are one "sentence" of about 75 s of speech (each read out by name): it comes out in pieces of
    at most ~15 s each, not as one call whose memory stays at its peak."""
    from voxgate.app import speech_service
    from voxgate.config import ServerSettings, Settings
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    settings = Settings(server=ServerSettings(data_dir=tmp_path, cpu_threads=2))
    service = speech_service(settings, Catalog.load(), ModelRegistry(settings.model_cache_dir))
    utterance = service.prepare("tts-1", "\U0001F600" * 150, "alloy", 1.0, "wav")
    engine = service.engine(utterance.spec)
    blocks = [len(b) / engine.sample_rate for b in engine.synthesize(utterance.text, utterance.options)]
    assert sum(blocks) > 30 and max(blocks) < 16.5, blocks


RAMP_TEXT = ("In the middle of the long afternoon the committee finally agreed on a plan that nobody had expected, "
             "and the chairman, who had argued against it for weeks, read it aloud to the room. Short one. "
             "Speech recognition has improved a great deal over the last few years.")


def test_ramp_starts_with_a_word_or_two_and_grows_by_at_most_its_factor() -> None:
    pieces = split_for_streaming(RAMP_TEXT, first_max_chars=12, max_chars=300, growth=2.5)
    assert pieces[0] == "In the"
    assert " ".join(pieces) == RAMP_TEXT  # nothing lost or repeated at a seam
    for before, after in zip(pieces, pieces[1:], strict=False):
        if not before.endswith("."):  # inside one sentence the next piece is at most 2.5x (+ its reach)
            assert len(after) <= max(12, 2.5 * len(before)) * CLAUSE_REACH, (before, after)
    assert "Short one." in pieces  # sentences are never merged
    assert pieces[-1] == "Speech recognition has improved a great deal over the last few years."


def test_ramp_cuts_keep_short_words_with_their_phrase() -> None:
    """After the first piece a cut inside a clause never strands an article or preposition ("in the |
    morning" was heard back as "in this, morning"), a clause break a little past the budget is taken, and
    the first piece is never one short word."""
    pieces = split_for_streaming("The library opens at nine in the morning, and the reading room stays quiet "
                                 "until the afternoon.", first_max_chars=12, growth=2.5)
    assert pieces == ["The library", "opens at nine in the morning,",
                      "and the reading room stays quiet until the afternoon."]
    assert split_for_streaming("La biblioteca apre presto la mattina e chiude tardi la sera.",
                               first_max_chars=12, growth=2.5)[0] == "La biblioteca"
    for piece in split_for_streaming(RAMP_TEXT, first_max_chars=12, growth=2.5)[1:]:
        if seam_kind(piece) == "word":
            assert len(piece.split()[-1]) > SHORT_WORD, piece


def test_ramp_prefers_clause_breaks_and_keeps_unspaced_text_whole() -> None:
    pieces = split_for_streaming("Yes, of course, we can talk about the garden tomorrow morning after breakfast.",
                                 first_max_chars=12, growth=2.5)
    assert pieces[:2] == ["Yes,", "of course,"]
    unspaced = "今日はとても良い天気ですね"
    assert split_for_streaming(unspaced, first_max_chars=12, growth=2.5) == [unspaced]


def test_kokoro_seams_pause_by_how_a_piece_ends() -> None:
    from voxgate.tts.kokoro import SEAM_PAUSE_S, seam_kind

    assert [seam_kind(p) for p in ["In the", "who had argued,", "to the room.", 'he said "no."', "本当？"]] == [
        "word", "clause", "sentence", "sentence", "sentence"]
    assert SEAM_PAUSE_S["word"] < SEAM_PAUSE_S["clause"] < SEAM_PAUSE_S["sentence"]


def test_kokoro_first_audio_is_a_short_piece_and_the_rest_keeps_up() -> None:
    """The first block is a word or two (under a second of audio); each later block took less time to make
    than the audio already sent lasts, so a listener never waits mid-stream."""
    import time

    import numpy as np
    from tests.conftest import MODEL_CACHE

    from voxgate.app import speech_service
    from voxgate.config import ServerSettings, Settings
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    settings = Settings(server=ServerSettings(data_dir=MODEL_CACHE.parent / "unit-data", cpu_threads=2))
    service = speech_service(settings, Catalog.load(), ModelRegistry(MODEL_CACHE))
    utterance = service.prepare("tts-1-hd", RAMP_TEXT, "nova", 1.0, "wav")
    engine = service.engine(utterance.spec)
    started, sent, stalls, blocks = time.perf_counter(), 0.0, [], []
    for block in engine.synthesize(utterance.text, utterance.options):
        ready = time.perf_counter() - started
        if blocks:
            stalls.append(ready - sent)
        sent = max(sent, ready) + len(block) / engine.sample_rate
        blocks.append(block)
    assert len(blocks[0]) / engine.sample_rate < 1.0
    assert len(blocks) >= 5
    assert max(stalls) < 0.5, stalls  # loose: the machine is shared
    assert 10 < len(np.concatenate(blocks)) / engine.sample_rate < 30
