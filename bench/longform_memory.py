"""Peak memory of the voxgate server against the length of the file: 10 min, 1 h, 2 h by default.

Each length runs on a fresh server (VmHWM is a per-process high-water mark) with whisper-base and 2
threads; the long files repeat the 10-minute benchmark recording (bench/longform_data.py), so their
transcript is known too. RSS is also sampled during the request, to show it does not creep upward.
Takes ~10 minutes on 2 cores. Not part of `make bench` (bench_*.py): run it directly,
`.venv/bin/python bench/longform_memory.py [--seconds 600,3600,7200]`. Exit status 1 if a peak exceeds
1.5 GB."""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import longform_data  # noqa: E402

LIMIT_MB = 1500


def _status_mb(pid: int, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(key + r":\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def run(seconds: float, model: str) -> dict[str, float]:
    from tests.conftest import start_server, stop_server
    from tests.helpers import wer

    base = longform_data.build()
    path = base.path if seconds == base.duration else longform_data.repeated(seconds, base)
    reference = " ".join([base.reference] * int(round(seconds / base.duration)))
    live = start_server(longform_data.OUT / f"memory-{int(seconds)}",
                        {"VOXGATE_CPU_THREADS": "2", "VOXGATE_MAX_UPLOAD_BYTES": str(4 << 30)})
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.wait(0.5):
            samples.append((time.perf_counter() - t0, _status_mb(live.process.pid, "VmRSS")))

    try:
        client = live.client(timeout=4 * 3600)
        with (ROOT / "tests/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav").open("rb") as fh:
            client.audio.transcriptions.create(file=fh, model=model)  # load the model first
        threading.Thread(target=sample, daemon=True).start()
        started = time.perf_counter()
        with path.open("rb") as fh:
            text = client.audio.transcriptions.create(file=fh, model=model, response_format="text")
        elapsed = time.perf_counter() - started
        peak = _status_mb(live.process.pid, "VmHWM")
    finally:
        done.set()
        stop_server(live)
    half = len(samples) // 2
    return {"seconds": seconds, "elapsed": elapsed, "peak_mb": peak, "wer": wer(reference, str(text)),
            "rss_first_half_max": max((s for _, s in samples[:half]), default=0.0),
            "rss_second_half_max": max((s for _, s in samples[half:]), default=0.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", default="600,3600,7200")
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args(argv)
    rows = []
    for seconds in (float(s) for s in args.seconds.split(",")):
        r = run(seconds, args.model)
        rows.append(r)
        print(f"{seconds / 60:6.0f} min: {r['elapsed']:7.1f} s ({seconds / r['elapsed']:5.1f}x real time)  "
              f"peak RSS {r['peak_mb']:5.0f} MB  RSS max 1st half {r['rss_first_half_max']:5.0f} MB, "
              f"2nd half {r['rss_second_half_max']:5.0f} MB  WER {r['wer']:.2%}", flush=True)
    return 0 if all(r["peak_mb"] < LIMIT_MB for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
