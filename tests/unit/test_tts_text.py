"""Text splitting for streamed speech: where pieces end decides both first-byte time and intonation."""

from __future__ import annotations

from pathlib import Path

from voxgate.tts.text import split_for_streaming, split_sentences


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
