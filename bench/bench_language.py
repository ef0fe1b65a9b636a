"""Language identification on short clips (1.2-3 s, twelve languages), voxgate beside faster-whisper.

Clips: bench/language_data.py (espeak-ng, two voices, six sentences per language). Same weights (catalog
whisper-base, int8), 2 threads, beam 5, nobody told the language:
  1. faster-whisper WhisperModel.transcribe: its own detection (`info.language`; the segments are not
     decoded, so its time is detection alone)
  2. voxgate over HTTP with the official SDK: `languages[0].code` of the json answer (the detector, and
     on an unsure clip the second opinion of voxgate/asr/language.py)
Target: voxgate right at least as often as faster-whisper overall. Exit status 1 when missed.

Run from the repo root: `.venv/bin/python bench/bench_language.py`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import language_data  # noqa: E402
from bench.bench_longform import BEAM, MODEL, THREADS, VoxgateServer, _model_path  # noqa: E402


def run_worker() -> dict[str, str]:
    """In a child process: faster-whisper's detected language for every clip."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(_model_path()), device="cpu", compute_type="int8", cpu_threads=THREADS)
    out = {}
    for clip in language_data.clips():
        _, info = model.transcribe(str(clip.path), beam_size=BEAM)
        out[clip.path.name] = info.language
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.worker:
        print(json.dumps(run_worker()))
        return 0

    clips = language_data.clips()
    print(f"{len(clips)} clips in {len(language_data.SENTENCES)} languages; {MODEL}, {THREADS} threads, beam {BEAM}",
          flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--worker"], cwd=ROOT, capture_output=True, text=True, check=True)
    baseline: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    fw_seconds = time.perf_counter() - started
    server = VoxgateServer(language_data.OUT / "server")
    voxgate: dict[str, str] = {}
    started = time.perf_counter()
    try:
        for clip in clips:
            with clip.path.open("rb") as fh:
                answer = server.client.audio.transcriptions.create(file=fh, model=MODEL, response_format="json")
            heard = answer.languages or []
            voxgate[clip.path.name] = heard[0].code if heard else "?"
    finally:
        server.close()
    vox_seconds = time.perf_counter() - started

    total, right_fw, right_vox = Counter[str](), Counter[str](), Counter[str]()
    for clip in clips:
        total[clip.language] += 1
        right_fw[clip.language] += baseline[clip.path.name] == clip.language
        right_vox[clip.language] += voxgate[clip.path.name] == clip.language
    print(f"\n{'language':<9} {'clips':>5} {'faster-whisper':>15} {'voxgate':>8}")
    for language in total:
        print(f"{language:<9} {total[language]:>5} {right_fw[language]:>15} {right_vox[language]:>8}")
    n, fw, vox = sum(total.values()), sum(right_fw.values()), sum(right_vox.values())
    print(f"{'all':<9} {n:>5} {fw:>11} ({fw / n:.0%}) {vox:>4} ({vox / n:.0%})   time: detection alone "
          f"{fw_seconds:.0f} s / full transcription {vox_seconds:.0f} s")
    ok = vox >= fw
    print(f"  [{'ok' if ok else 'MISSED'}] voxgate right at least as often as faster-whisper")
    (language_data.OUT / "results.json").write_text(json.dumps({"faster_whisper": baseline, "voxgate": voxgate},
                                                               indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
