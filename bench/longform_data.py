"""Long recordings with a known transcript for the long-form benchmark.

Real speech with exact transcripts is scarce offline, so a 10-minute "podcast" is assembled from the
public-domain LibriVox clips in tests/data/librivox (a real reader, 24.7 s) and Piper "joe" reading the
paragraphs below (our own text), with pauses of varied length between utterances, a few long silences
and a faint noise floor, as in a real recording. Everything is seeded and cached under bench/out/longform/.

`python bench/longform_data.py` builds the 10-minute file; `--repeat SECONDS` writes a longer file by
repeating it (for the 1 h / 2 h memory runs), streamed to disk so the builder itself stays small.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "longform"
LIBRIVOX = ROOT / "tests" / "data" / "librivox"
SR = 16000
_VERSION = "3"  # bump when the recipe changes, to rebuild cached files

PARAGRAPHS = [
    "Welcome back to the show. Today we are talking about how small towns are rethinking their libraries. "
    "Ten years ago many people expected them to close. Instead, a lot of them are busier than ever.",
    "The library in our town now lends tools as well as books. You can borrow a ladder, a drill or a "
    "sewing machine for a week. The librarian told me the pressure washer is booked until the autumn.",
    "There is also a quiet room upstairs where students prepare for their exams. On weekday evenings "
    "every seat is taken, and the staff keep the building open an hour later than they used to.",
    "Our second story is about the weather. The spring was unusually dry, and farmers in the valley "
    "started watering their fields three weeks earlier than normal. Some of them are worried about the "
    "river, which is lower than anyone can remember.",
    "A hydrologist from the university explained that the snow in the mountains melted very early this "
    "year. When that happens, the river runs high in April and then drops quickly in the summer.",
    "She suggested that towns along the river should store more water in the wet months. That could mean "
    "new ponds, better pipes, or simply fixing the leaks in the old network.",
    "Let us move on to the meeting notes from Tuesday. The team agreed to replace the old billing system "
    "before the end of the year. Maria will write the plan, and Thomas will check the budget.",
    "The migration itself should be simple, but testing every case will take a few months. We decided to "
    "start with the smallest customers and move the large accounts only after the first review.",
    "Someone asked who will support the system after the contractors leave. Nobody had a good answer, so "
    "we will come back to that question at the next meeting.",
    "Now for something lighter. I finally learned how to bake bread at home. The first loaf was flat and "
    "dense, but the third one was actually good. The secret is patience and a very hot oven.",
    "You mix flour, water, salt and a little yeast, and then you wait. The dough should rest for several "
    "hours. If you are in a hurry, the bread will taste like cardboard.",
    "My neighbor bakes every Sunday morning, and the smell reaches the whole street. She gave me a jar of "
    "her starter, and I have been feeding it every day like a pet.",
    "A listener wrote in with a question about travel. She wants to visit the coast in October and asked "
    "whether the trains still run after the summer season. They do, but less often.",
    "The morning train leaves at seven and reaches the harbor just before ten. In the evening there is "
    "only one train back, so plan your day carefully and do not miss it.",
    "If you prefer to drive, the road along the cliffs is beautiful, but it is narrow and there are very "
    "few places to stop. Bring water, a warm jacket and a paper map.",
    "Our last topic is sleep. Researchers asked forty volunteers to keep a diary for a month. The "
    "people who went to bed at the same time every night felt more rested, even when they slept less.",
    "The study also found that bright screens late in the evening made it harder to fall asleep. The "
    "authors recommend putting the phone away an hour before bed and reading a book instead.",
    "Of course, that advice is easier to give than to follow. I tried it for a week and read more than I "
    "had in the whole previous month, which is a nice side effect.",
    "Before we finish, a quick reminder about the community garden. Planting day is on Saturday at nine. "
    "Bring gloves, and if you have spare seeds, bring those too.",
    "The garden committee would also like volunteers to help build a new fence around the vegetable beds. "
    "Rabbits ate most of the lettuce last year, and nobody wants that to happen again.",
    "Thank you for listening. If you have a story for the next episode, send us a message. We read every "
    "one, even if we cannot answer them all. See you next week.",
]


@dataclass
class Placement:
    """One utterance in the built file: where it sits and what it says."""

    start: float
    end: float
    text: str
    source: str


@dataclass
class LongFile:
    path: Path
    duration: float
    placements: list[Placement]

    @property
    def reference(self) -> str:
        return " ".join(p.text for p in self.placements)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768


def write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())


def librivox_clips() -> list[tuple[str, np.ndarray, str]]:
    rows = (LIBRIVOX / "transcription.tsv").read_text().strip().splitlines()
    return [(name, read_wav(LIBRIVOX / f"{name}.wav"), text) for name, text in (r.split("\t", 1) for r in rows)]


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
    frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = rate
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


def piper_sentences() -> list[tuple[str, np.ndarray, str]]:
    """Each sentence of PARAGRAPHS spoken by Piper joe at 16 kHz (cached as one .npz)."""
    cache = OUT / f"piper-v{_VERSION}.npz"
    from voxgate.tts.text import split_sentences

    sentences = [s for p in PARAGRAPHS for s in split_sentences(p)]
    if cache.exists():
        data = np.load(cache)
        return [(f"piper-{i:03d}", data[f"s{i}"], s) for i, s in enumerate(sentences)]
    from voxgate.models.catalog import Catalog
    from voxgate.models.weights import prepare
    from voxgate.tts.engine import PiperEngine, SpeechOptions

    spec = Catalog.load().resolve("piper-joe")
    assert spec is not None
    engine = PiperEngine.load(spec, prepare(spec, OUT / "models"), cpu_threads=2)
    arrays = {}
    for i, sentence in enumerate(sentences):
        pcm = np.concatenate(list(engine.synthesize(sentence, SpeechOptions(voice=spec.default_voice or "joe"))))
        arrays[f"s{i}"] = _resample(pcm, engine.sample_rate)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return [(f"piper-{i:03d}", arrays[f"s{i}"], s) for i, s in enumerate(sentences)]


def build(minutes: float = 10.0, seed: int = 7) -> LongFile:
    """The benchmark file: paragraphs in order, LibriVox clips between them, varied pauses."""
    duration = minutes * 60
    path = OUT / f"podcast-{minutes:g}min-v{_VERSION}.wav"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return LongFile(path, duration, [Placement(**p) for p in json.loads(meta.read_text())])
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    books = librivox_clips()
    tts = piper_sentences()
    total = int(duration * SR)
    audio = (noise.standard_normal(total) * 0.002).astype(np.float32)
    placements: list[Placement] = []
    t = 1.0
    from voxgate.tts.text import split_sentences

    items: list[tuple[str, np.ndarray, str]] = []
    spoken = iter(tts)
    for book_i, paragraph in enumerate(PARAGRAPHS):
        items.extend(next(spoken) for _ in split_sentences(paragraph))
        items.append(books[book_i % len(books)])  # a real reader after every paragraph
    idx = 0
    while True:
        name, pcm, text = items[idx % len(items)]
        idx += 1
        if t + len(pcm) / SR > duration - 1.0:
            break
        start = int(t * SR)
        audio[start:start + len(pcm)] += pcm * (0.9 if name.startswith("piper") else 1.0)
        placements.append(Placement(round(t, 3), round(t + len(pcm) / SR, 3), text, name))
        t += len(pcm) / SR
        roll = rng.random()
        t += rng.uniform(6.0, 12.0) if roll < 0.04 else rng.uniform(1.2, 2.5) if roll < 0.3 else rng.uniform(0.25, 0.7)
    write_wav(path, audio)
    meta.write_text(json.dumps([asdict(p) for p in placements]))
    return LongFile(path, duration, placements)


def repeated(seconds: float, base: LongFile | None = None) -> Path:
    """`base` tiled to `seconds`, written block by block (for memory runs; the text repeats)."""
    base = base or build()
    path = OUT / f"repeated-{int(seconds)}s-v{_VERSION}.wav"
    if path.exists():
        return path
    block = read_wav(base.path)
    tmp = path.with_suffix(".part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        left = int(seconds * SR)
        while left > 0:
            piece = block[:left]
            w.writeframes((np.clip(piece, -1, 1) * 32767).astype(np.int16).tobytes())
            left -= len(piece)
    tmp.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeat", type=float, default=None, help="also write a SECONDS-long repeated file")
    args = parser.parse_args()
    f = build(args.minutes)
    speech = sum(p.end - p.start for p in f.placements)
    print(f"{f.path}: {f.duration:.0f} s, {len(f.placements)} utterances, {speech:.0f} s of speech, "
          f"{len(f.reference.split())} words")
    if args.repeat:
        print(repeated(args.repeat, f))


if __name__ == "__main__":
    main()
