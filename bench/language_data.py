"""Short clips (about 1-4 s) in twelve languages, for the language-identification benchmark.

No registry package ships non-English real speech, so the clips are espeak-ng (Debian `espeak-ng`)
reading six everyday sentences per language (written for this benchmark), in a male and a female variant
at slightly different rates. Robotic voices are harder than people for Whisper's language detector, which
makes the comparison stricter, not easier. Cached under bench/out/language/.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.diarization_data import SR, _cli, resample, rms_db, trim, write_wav  # noqa: E402

OUT = ROOT / "bench" / "out" / "language"

# language code (Whisper's) -> (espeak-ng voice, six sentences)
SENTENCES: dict[str, tuple[str, list[str]]] = {
    "en": ("en-us", ["Hello, how are you today?", "The train leaves at eight in the morning.",
                     "I need to buy bread and milk.", "Tomorrow we are going to the beach with friends.",
                     "Where is the bus station?", "I really like this city."]),
    "es": ("es", ["Hola, ¿cómo estás hoy?", "El tren sale a las ocho de la mañana.", "Necesito comprar pan y leche.",
                  "Mañana vamos a la playa con mis amigos.", "¿Dónde está la estación de autobuses?",
                  "Me gusta mucho esta ciudad."]),
    "fr": ("fr-fr", ["Bonjour, comment allez-vous ?", "Le train part à huit heures du matin.",
                     "Je dois acheter du pain et du lait.", "Demain nous allons à la plage avec des amis.",
                     "Où se trouve la gare routière ?", "J'aime beaucoup cette ville."]),
    "it": ("it", ["Ciao, come stai oggi?", "Il treno parte alle otto di mattina.", "Devo comprare il pane e il latte.",
                  "Domani andiamo al mare con gli amici.", "Dov'è la stazione degli autobus?",
                  "Mi piace molto questa città."]),
    "pt": ("pt-br", ["Olá, como você está hoje?", "O trem sai às oito da manhã.", "Preciso comprar pão e leite.",
                     "Amanhã vamos à praia com os amigos.", "Onde fica a estação de ônibus?",
                     "Eu gosto muito desta cidade."]),
    "de": ("de", ["Hallo, wie geht es dir heute?", "Der Zug fährt um acht Uhr morgens ab.",
                  "Ich muss Brot und Milch kaufen.", "Morgen fahren wir mit Freunden an den Strand.",
                  "Wo ist der Busbahnhof?", "Diese Stadt gefällt mir sehr."]),
    "nl": ("nl", ["Hallo, hoe gaat het vandaag?", "De trein vertrekt om acht uur 's ochtends.",
                  "Ik moet brood en melk kopen.", "Morgen gaan we met vrienden naar het strand.",
                  "Waar is het busstation?", "Ik vind deze stad erg mooi."]),
    "pl": ("pl", ["Cześć, jak się dzisiaj masz?", "Pociąg odjeżdża o ósmej rano.", "Muszę kupić chleb i mleko.",
                  "Jutro jedziemy nad morze z przyjaciółmi.", "Gdzie jest dworzec autobusowy?",
                  "Bardzo lubię to miasto."]),
    "cs": ("cs", ["Ahoj, jak se dnes máš?", "Vlak odjíždí v osm hodin ráno.", "Musím koupit chléb a mléko.",
                  "Zítra jedeme k moři s přáteli.", "Kde je autobusové nádraží?", "To město se mi moc líbí."]),
    "ru": ("ru", ["Привет, как у тебя дела сегодня?", "Поезд отправляется в восемь утра.",
                  "Мне нужно купить хлеб и молоко.", "Завтра мы поедем на море с друзьями.",
                  "Где находится автовокзал?", "Мне очень нравится этот город."]),
    "sv": ("sv", ["Hej, hur mår du idag?", "Tåget går klockan åtta på morgonen.", "Jag måste köpa bröd och mjölk.",
                  "I morgon åker vi till stranden med vänner.", "Var ligger busstationen?",
                  "Jag tycker mycket om den här staden."]),
    "tr": ("tr", ["Merhaba, bugün nasılsın?", "Tren sabah sekizde kalkıyor.", "Ekmek ve süt almam gerekiyor.",
                  "Yarın arkadaşlarla denize gidiyoruz.", "Otobüs terminali nerede?", "Bu şehri çok seviyorum."]),
}
VARIANTS = (("", 150), ("+f3", 170))  # (espeak-ng voice suffix, words per minute)


@dataclass(frozen=True)
class Clip:
    language: str
    text: str
    path: Path

    @property
    def seconds(self) -> float:
        return (self.path.stat().st_size - 44) / 2 / SR


def _espeak(voice: str, rate: int, text: str) -> np.ndarray:
    y, sr = _cli(["espeak-ng", "-v", voice, "-s", str(rate), "-w", "{out}", text])
    return trim(resample(y, sr))


def clips() -> list[Clip]:
    """Every clip (built on first use), language by language."""
    out = []
    for language, (voice, sentences) in SENTENCES.items():
        for suffix, rate in VARIANTS:
            for text in sentences:
                key = hashlib.sha1(f"{voice}{suffix}|{rate}|{text}".encode()).hexdigest()[:12]
                path = OUT / f"{language}_{key}.wav"
                if not path.exists():
                    y = _espeak(voice + suffix, rate, text)
                    write_wav(path, y * np.float32(10 ** ((-23.0 - rms_db(y)) / 20)))
                out.append(Clip(language, text, path))
    return out


if __name__ == "__main__":
    made = clips()
    lengths = [c.seconds for c in made]
    print(f"{len(made)} clips in {len(SENTENCES)} languages, {min(lengths):.1f}-{max(lengths):.1f} s")
