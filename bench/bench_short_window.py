"""Short audio encoded at 15 s instead of Whisper's 30 s (`VOXGATE_ASR_SHORT_WINDOW_S`): same words, less time.

The encoder's attention grows with the square of its input, so a 5 s clip padded to 30 s spends most of its
time on padding. Side by side in one run, in-process, the same models and audio, beam 5, English:
  - 10 real utterances (the five LibriVox clips and the five turns of the two-voice conversation fixture);
  - up to 48 synthesised sentences without numbers (Kokoro af_heart, am_michael, bf_emma and Piper joe, 2-8 s
    each; a number's spelling, "five five five" or "555", changes between decodes whatever the window).
For whisper-base and tiny.en: WER at 30 s and at 15 s, and the median time per utterance.
Target: WER at 15 s no worse than at 30 s plus 1 point on either set (the same on real speech).

    .venv/bin/python bench/bench_short_window.py
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import librivox_clips, normalize  # noqa: E402
from tests.realtime_client import load16k  # noqa: E402

VOICES = [("kokoro", "af_heart"), ("kokoro", "am_michael"), ("kokoro", "bf_emma"), ("tts-1", "alloy")]
MAX_GAP = 0.01  # one point: on these ~500 synthesised words, runs differ by up to 0.5 either way


def real_utterances() -> list[tuple[np.ndarray, str]]:
    out = [(load16k(path), text) for path, text in librivox_clips()]
    fixture = json.loads((ROOT / "tests/data/diarize_two_voices.json").read_text())
    conv = load16k(ROOT / "tests/data/diarize_two_voices.wav")
    for turn in fixture["turns"]:
        out.append((conv[max(0, int(turn["start"] * 16000) - 4800):int(turn["end"] * 16000) + 4800], turn["text"]))
    return out


def synthesised(settings: object) -> list[tuple[np.ndarray, str]]:
    from voxgate.app import speech_service
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    catalog = Catalog.load()
    speech = speech_service(settings, catalog, ModelRegistry(settings.model_cache_dir))  # type: ignore[arg-type]
    lines = [json.loads(line)["text"] for line in (ROOT / "bench/data/pii_sentences.jsonl").open()]
    # no digits, addresses or spelled-out numbers: how a number is written ("five five five" or "555") varies from
    # one decode to the next and says nothing about the words heard
    spelled = r"\b(zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|double|hundred|thousand|dot|at)\b"
    lines = [t for t in lines if not re.search(r"[\d@]", t) and not re.search(spelled, t.lower())][:48]
    out = []
    for i, text in enumerate(lines):
        model, voice = VOICES[i % len(VOICES)]
        spec = catalog.require(model, "speech")
        utterance = speech.prepare_for(spec, text, voice)
        pcm = np.concatenate(list(speech.engine(spec).synthesize(utterance.text, utterance.options)))
        rate = 24000 if model == "kokoro" else 22050
        samples = resample_poly(pcm.astype(np.float64), 16000, rate).astype(np.float32)
        pad = np.zeros(4800, dtype=np.float32)
        out.append((np.concatenate([pad, samples, pad]), text))
    return out


def score(service: object, model: str, utterances: list[tuple[np.ndarray, str]]) -> tuple[float, float]:
    from voxgate.transcription import Fields

    request = service.parse(Fields.from_json({"model": model, "language": "en"}), "transcribe")  # type: ignore
    service.transcribe(utterances[0][0], request)  # type: ignore[attr-defined]  (load and warm)
    hyps, times = [], []
    for audio, _ in utterances:
        started = time.perf_counter()
        hyps.append(service.transcribe(audio, request).text)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)
    refs = [normalize(text) for _, text in utterances]
    return float(jiwer.wer(refs, [normalize(h) for h in hyps])), statistics.median(times)


def main() -> int:
    from voxgate.config import AsrSettings, Settings
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.transcription import TranscriptionService

    settings = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="bench-short-window-"))
    made = synthesised(settings)
    sets = {"real (10)": real_utterances(), f"synthesised ({len(made)})": made}
    ok = True
    print("| model | audio | WER at 30 s | WER at 15 s | median time 30 s | median time 15 s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for model in ("whisper-base", "whisper-tiny.en"):
        results = {}
        for window in (30.0, 15.0):
            service = TranscriptionService(Catalog.load(), ModelRegistry(settings.model_cache_dir),
                                           AsrSettings(short_window_s=window), 2, tmp)
            results[window] = {name: score(service, model, utts) for name, utts in sets.items()}
        for name in sets:
            (w30, t30), (w15, t15) = results[30.0][name], results[15.0][name]
            ok = ok and w15 <= w30 + MAX_GAP
            print(f"| {model} | {name} | {w30:.1%} | {w15:.1%} | {t30 * 1000:.0f} ms | {t15 * 1000:.0f} ms | "
                  f"{t30 / t15:.2f}x |")
    print(f"target: WER at 15 s within {MAX_GAP:.1%} of 30 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
