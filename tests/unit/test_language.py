"""The second opinion on a short clip's language (voxgate/asr/language.py), with the real text identifier."""

from __future__ import annotations

from voxgate.asr import language
from voxgate.asr.language import Candidate


def test_only_an_unsure_guess_gets_rivals_and_only_plausible_ones() -> None:
    assert language.rivals([("en", 0.93), ("de", 0.03)]) == []
    assert language.rivals([("fr", 0.45), ("it", 0.40), ("es", 0.05), ("pt", 0.04)]) == [("it", 0.40), ("es", 0.05)]
    assert language.rivals([("fr", 0.45), ("it", 0.01)]) == []
    assert language.rivals([]) == []


def test_the_text_identifier_reads_whispers_languages() -> None:
    identify = language.text_identifier()
    assert identify.probability("Dzień dobry, jak się dzisiaj masz?", "pl") > 0.9
    assert identify.probability("Dzień dobry, jak się dzisiaj masz?", "cs") < 0.1
    assert identify.probability("", "en") == 0.0


def test_the_decode_that_reads_well_in_its_language_wins() -> None:
    # Italian audio the detector thought French: the French decode is unsure gibberish, the Italian one fluent.
    french = Candidate("fr", 0.45, -1.3, "Il y a chez, que me stay oggi?")
    italian = Candidate("it", 0.40, -0.35, "Ciao, come stai oggi? Mi chiamo Marco e vivo a Roma.")
    assert language.best([french, italian]) is italian
    # A confident, fluent first guess is not overturned by a weaker runner-up.
    english = Candidate("en", 0.7, -0.2, "The train leaves at eight in the morning.")
    welsh = Candidate("cy", 0.1, -0.9, "Mae'r trwy'n ni wedi wedi wedi")
    assert language.best([english, welsh]) is english
