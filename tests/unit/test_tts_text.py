"""Text splitting for streamed speech: where pieces end decides both first-byte time and intonation."""

from __future__ import annotations

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
