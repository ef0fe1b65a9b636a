"""Peak memory of one speech request at the 4096-character input limit, voxgate's engine beside Piper's own
`synthesize` on the same text (issue 11).

Each input runs in a fresh process (peak RSS is a high-water mark), synthesising to a discarded stream. Text
without spaces or punctuation is the hostile case: Piper makes one call per sentence, and a run of emoji
(each read out by name) is one "sentence" of minutes of audio. Target: voxgate's peak stays under BOUND_MB for
every input, and under half of Piper's own for the 150-emoji run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOUND_MB = 1024.0
LIMIT = 4096

INPUTS = {
    "prose": ("The quick brown fox jumps over the lazy dog while the committee argues about the budget. " * 60)[:LIMIT],
    "no spaces": ("abcdefghij" * 500)[:LIMIT],
    "digits": ("1234567890" * 500)[:LIMIT],
    "emoji x 150": "\U0001F600" * 150,  # the review's case: one 72 s Piper call
    "emoji mix": "".join(chr(0x1F600 + i % 80) for i in range(LIMIT)),
}

_CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from voxgate.config import Settings, ServerSettings
from voxgate.app import speech_service
from voxgate.models.catalog import Catalog
from voxgate.models.registry import ModelRegistry
from voxgate.models.weights import prepare
from piper import PiperVoice
which, text = sys.argv[1], sys.argv[2]
settings = Settings(server=ServerSettings(data_dir=Path(tempfile.mkdtemp()), cpu_threads=2))
service = speech_service(settings, Catalog.load(), ModelRegistry(settings.model_cache_dir))
utterance = service.prepare("tts-1", text, "alloy", 1.0, "wav")
if which == "voxgate":
    engine = service.engine(utterance.spec)
    rate, started = engine.sample_rate, time.perf_counter()
    blocks = engine.synthesize(utterance.text, utterance.options)
else:  # Piper's own voice and call, nothing of voxgate's engine loaded
    voice = PiperVoice.load(prepare(utterance.spec, settings.model_cache_dir))
    rate, started = voice.config.sample_rate, time.perf_counter()
    blocks = (chunk.audio_float_array for chunk in voice.synthesize(utterance.text))
samples = 0
for block in blocks:
    samples += len(block)
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "audio_s": samples / rate, "wall_s": time.perf_counter() - started}))
"""


def _run(which: str, text: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, which, text], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    print(f"{'input':<14}{'chars':>6}{'voxgate MB':>12}{'piper MB':>10}{'ratio':>7}{'audio s':>9}"
          f"{'vg wall s':>10}{'piper wall s':>13}")
    ok = True
    for name, text in INPUTS.items():
        ours, theirs = _run("voxgate", text), _run("piper", text)
        ratio = ours["rss_mb"] / theirs["rss_mb"]
        print(f"{name:<14}{len(text):>6}{ours['rss_mb']:>12.0f}{theirs['rss_mb']:>10.0f}{ratio:>7.2f}"
              f"{ours['audio_s']:>9.0f}{ours['wall_s']:>10.1f}{theirs['wall_s']:>13.1f}", flush=True)
        ok &= ours["rss_mb"] < BOUND_MB and (name != "emoji x 150" or ratio < 0.5)
    print(f"target: voxgate peak RSS < {BOUND_MB:.0f} MB for every input, < 0.5x Piper's on 150 emoji: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
