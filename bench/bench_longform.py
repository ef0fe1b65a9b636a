"""Long-form benchmark: 10 minutes of real speech, voxgate beside plain faster-whisper.

Same weights (catalog whisper-base, int8), same threads (2) and beam size (5) everywhere; nobody is
told the language. Measured, each in its own process so peak RSS is its own:
  1. faster-whisper WhisperModel.transcribe (sequential: what most Whisper servers run)
  2. faster-whisper BatchedInferencePipeline, batch 8
  3. voxgate over HTTP with the official SDK (a server started like the test suite's)
Times cover decoding the file and transcribing it, not loading the model. Targets (issue 10): voxgate
>= 2.5x (1) and >= 1.3x (2), WER <= (1). Exit status 1 when a target is missed.

Run from the repo root: `.venv/bin/python bench/bench_longform.py [--repeat N] [--minutes M]`
(the audio is built once and cached under bench/out/longform/, see bench/longform_data.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import longform_data  # noqa: E402

MODEL = "whisper-base"
THREADS = 2
BEAM = 5
TARGET_VS_SEQUENTIAL = 2.5
TARGET_VS_BATCHED = 1.3
WER_SLACK = 0.0


def _model_path() -> Path:
    from voxgate.models.catalog import Catalog
    from voxgate.models.weights import prepare

    spec = Catalog.load().resolve(MODEL)
    assert spec is not None
    return prepare(spec, longform_data.OUT / "models")


def run_faster_whisper(kind: str, audio: Path) -> dict[str, object]:
    """One baseline run in this process (called in a child process by `measure`)."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(str(_model_path()), device="cpu", compute_type="int8", cpu_threads=THREADS)
    started, cpu_before = time.perf_counter(), time.process_time()
    if kind == "sequential":
        segments, _ = model.transcribe(str(audio), beam_size=BEAM)
    else:
        segments, _ = BatchedInferencePipeline(model).transcribe(str(audio), beam_size=BEAM, batch_size=8)
    text = "".join(s.text for s in segments)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": time.perf_counter() - started, "text": text, "cpu_s": time.process_time() - cpu_before,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def measure(kind: str, audio: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--audio", str(audio)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


class VoxgateServer:
    """A voxgate server as the tests start it (2 CPU threads), warmed up with a short request."""

    def __init__(self, data_dir: Path) -> None:
        from tests.conftest import start_server

        self.live = start_server(data_dir, {"VOXGATE_CPU_THREADS": str(THREADS),
                                            "VOXGATE_MAX_UPLOAD_BYTES": str(2 << 30), "VOXGATE_LOG_LEVEL": "info"})
        self.client = self.live.client(timeout=7200)
        warm = ROOT / "tests" / "data" / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"
        with warm.open("rb") as fh:
            self.client.audio.transcriptions.create(file=fh, model=MODEL)

    def transcribe(self, audio: Path) -> dict[str, object]:
        pid = self.live.process.pid
        started, cpu = time.perf_counter(), cpu_seconds(pid)
        with audio.open("rb") as fh:
            text = self.client.audio.transcriptions.create(file=fh, model=MODEL, response_format="text")
        return {"seconds": time.perf_counter() - started, "text": str(text), "cpu_s": cpu_seconds(pid) - cpu,
                "peak_rss_mb": peak_rss_mb(pid)}

    def close(self) -> None:
        from tests.conftest import stop_server

        stop_server(self.live)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each system (interleaved); medians reported")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--worker", choices=("sequential", "batched"), help=argparse.SUPPRESS)
    parser.add_argument("--audio", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.worker:
        print(json.dumps(run_faster_whisper(args.worker, args.audio)))
        return 0

    from tests.helpers import wer

    data = longform_data.build(args.minutes)
    duration = data.duration
    print(f"audio: {data.path.name}, {duration / 60:.0f} min, {len(data.placements)} utterances, "
          f"{len(data.reference.split())} words; {MODEL}, {THREADS} threads, beam {BEAM}, load avg "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    names = {"sequential": "faster-whisper sequential", "batched": "faster-whisper batched-8",
             "voxgate": "voxgate (HTTP)"}
    runs: dict[str, list[dict[str, object]]] = {k: [] for k in names}
    server = VoxgateServer(longform_data.OUT / "server")
    try:
        for r in range(args.repeat):
            for kind in names:
                result = server.transcribe(data.path) if kind == "voxgate" else measure(kind, data.path)
                result["wer"] = wer(data.reference, str(result["text"]))
                runs[kind].append(result)
                print(f"  run {r + 1} {names[kind]:<26} {result['seconds']:6.1f} s  CPU {result['cpu_s']:5.1f} s  "
                      f"WER {result['wer']:.2%}  peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    finally:
        server.close()

    med = {k: {m: statistics.median(float(x[m]) for x in v) for m in ("seconds", "cpu_s", "wer", "peak_rss_mb")}
           for k, v in runs.items()}
    seq, bat = med["sequential"]["seconds"], med["batched"]["seconds"]
    print(f"\n{'system':<26} {'time':>8} {'x real time':>12} {'vs (1)':>8} {'vs (2)':>8} {'CPU':>7} {'WER':>7} "
          f"{'peak RSS':>9}")
    for kind, name in names.items():
        m = med[kind]
        print(f"{name:<26} {m['seconds']:7.1f}s {duration / m['seconds']:11.1f}x {seq / m['seconds']:7.2f}x "
              f"{bat / m['seconds']:7.2f}x {m['cpu_s']:6.1f}s {m['wer']:6.2%} {m['peak_rss_mb']:7.0f}MB")
    vox = med["voxgate"]
    checks = {
        f"voxgate >= {TARGET_VS_SEQUENTIAL}x sequential": seq / vox["seconds"] >= TARGET_VS_SEQUENTIAL,
        f"voxgate >= {TARGET_VS_BATCHED}x batched-8": bat / vox["seconds"] >= TARGET_VS_BATCHED,
        "voxgate WER <= sequential": vox["wer"] <= med["sequential"]["wer"] + WER_SLACK,
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {name}")
    (longform_data.OUT / "results.json").write_text(json.dumps({"runs": runs, "median": med}, indent=1))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
