"""Diarization benchmark: DER (0.25 s collar) and speed on synthetic conversations.

Run from the repo root: `.venv/bin/python bench/bench_diarization.py [--only NAME] [--threads N]`.
Needs apt `flite` and `espeak-ng` the first time (audio is cached under bench/out/).
Exits 1 when any conversation misses DER <= 15 % or diarization time <= 5 % of its duration.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

DER_TARGET = 0.15
RTF_TARGET = 0.05
COLLAR = 0.25
_STEP = 0.01  # DER is scored on a 10 ms grid

# Held-out sentence for each voice's reference clip (never used inside a conversation).
REFERENCE_TEXT = "Please bring the blue folder and the spare keys to the meeting on Thursday."


def der(reference: list[tuple[float, float, object]], hypothesis: list[tuple[float, float, object]],
        collar: float = COLLAR) -> dict[str, float]:
    """Diarization error rate with an optimal one-to-one speaker mapping.

    Scored time excludes +-collar around every reference turn boundary; DER =
    (missed + false alarm + confusion) / scored reference speech. Overlap is handled per frame.
    """
    end = max([e for _, e, _ in reference] + [e for _, e, _ in hypothesis] + [0.0])
    n = int(np.ceil(end / _STEP)) + 1
    rs = sorted({s for *_, s in reference}, key=str)
    hs = sorted({s for *_, s in hypothesis}, key=str)
    ref = np.zeros((n, max(1, len(rs))), dtype=bool)
    hyp = np.zeros((n, max(1, len(hs))), dtype=bool)
    scored = np.ones(n, dtype=bool)
    for a, b, s in reference:
        ref[int(round(a / _STEP)):int(round(b / _STEP)), rs.index(s)] = True
        for t in (a, b):
            lo, hi = int(round((t - collar) / _STEP)), int(round((t + collar) / _STEP))
            scored[max(0, lo):hi] = False
    for a, b, s in hypothesis:
        hyp[int(round(a / _STEP)):int(round(b / _STEP)), hs.index(s)] = True
    ref, hyp = ref[scored], hyp[scored]
    nr, nh = ref.sum(1), hyp.sum(1)
    total = float(nr.sum())
    miss = float(np.maximum(nr - nh, 0).sum())
    fa = float(np.maximum(nh - nr, 0).sum())
    from scipy.optimize import linear_sum_assignment

    overlap = ref.T.astype(np.int64) @ hyp.astype(np.int64)
    r, c = linear_sum_assignment(-overlap)
    conf = float(np.minimum(nr, nh).sum() - overlap[r, c].sum())
    total = max(total, 1.0)
    return {"der": (miss + fa + conf) / total, "miss": miss / total, "fa": fa / total,
            "conf": conf / total, "scored_s": total * _STEP}


def _references(voices: tuple[str, ...]) -> dict[str, np.ndarray]:
    from bench import diarization_data as data

    out = {}
    for v in voices:
        if v in data.VOICES:
            out[v] = data.synth(v, REFERENCE_TEXT)
    return out


def _speaker_id_check(audio, hyp, spec, ref_turns) -> tuple[int, int, int]:
    """(correctly named, wrongly named, speakers) for known-speaker matching with one distractor."""
    from bench import diarization_data as data

    from voxgate.diarize import match_known_speakers

    distractor = next(v for v in ("es_m", "awb", "slt", "joe", "rms", "kal")
                      if v not in spec.voices)
    refs = _references(spec.voices + (distractor,))
    names = match_known_speakers(audio, hyp, refs)
    # Ground truth: which voice dominates each hypothesis speaker's time.
    truth: dict[int, str] = {}
    for spk in {t.speaker for t in hyp}:
        cover: dict[str, float] = {}
        for t in hyp:
            if t.speaker != spk:
                continue
            for r in ref_turns:
                ov = min(t.end, r["end"]) - max(t.start, r["start"])
                if ov > 0:
                    cover[r["voice"]] = cover.get(r["voice"], 0.0) + ov
        if cover:
            truth[spk] = max(cover, key=cover.get)
    good = sum(1 for s, n in names.items() if truth.get(s) == n)
    named_voices = [v for v in spec.voices if v in data.VOICES]
    return good, len(names) - good, len(named_voices)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run conversations whose name contains this")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    ap.add_argument("--no-id", action="store_true", help="skip the known-speaker check")
    ap.add_argument("--narrowband", action="store_true",
                    help="run on 8 kHz telephone-band copies of the conversations")
    args = ap.parse_args(argv)
    if str(ROOT) not in sys.path:  # run as a script: make `bench` and `voxgate` importable
        sys.path.insert(0, str(ROOT))

    from bench import diarization_data as data

    from voxgate.diarize import SpeakerEmbedder, diarize

    embedder = SpeakerEmbedder(threads=args.threads)
    specs = [s for s in data.CONVERSATIONS if not args.only or args.only in s.name]
    # Warm-up: model loading is a one-off per process, not part of per-request cost.
    diarize(np.zeros(data.SR, dtype=np.float32) + 1e-3, embedder=embedder,
            speech=[(0.0, 1.0)])
    rows = []
    header = (f"{'conversation':27s} {'dur s':>7s} {'spk':>3s} {'found':>5s} {'DER%':>6s} "
              f"{'miss%':>6s} {'fa%':>6s} {'conf%':>6s} {'DER0%':>6s} {'time s':>7s} "
              f"{'time%':>6s} {'id':>5s}")
    print(header)
    print("-" * len(header))
    for spec in specs:
        audio, ref_turns = data.load(spec)
        dur = len(audio) / data.SR
        rate = data.SR
        if args.narrowband:
            from scipy.signal import resample_poly

            audio, rate = resample_poly(audio, 1, 2).astype(np.float32), 8000
        t0 = time.perf_counter()
        hyp = diarize(audio, sample_rate=rate, embedder=embedder)
        elapsed = time.perf_counter() - t0
        if args.narrowband:
            audio = resample_poly(audio, 2, 1).astype(np.float32)  # for the speaker-name check
        score = der([(r["start"], r["end"], r["speaker"]) for r in ref_turns],
                    [(t.start, t.end, t.speaker) for t in hyp])
        strict = der([(r["start"], r["end"], r["speaker"]) for r in ref_turns],
                     [(t.start, t.end, t.speaker) for t in hyp], collar=0.0)
        found = len({t.speaker for t in hyp})
        idtxt = "-"
        if not args.no_id:
            good, bad, total = _speaker_id_check(audio, hyp, spec, ref_turns)
            idtxt = f"{good}/{total}" + ("!" if bad else "")
        rows.append((spec.name, dur, len(spec.voices), found, score, elapsed))
        print(f"{spec.name:27s} {dur:7.1f} {len(spec.voices):3d} {found:5d} "
              f"{100 * score['der']:6.2f} "
              f"{100 * score['miss']:6.2f} {100 * score['fa']:6.2f} {100 * score['conf']:6.2f} "
              f"{100 * strict['der']:6.2f} {elapsed:7.2f} {100 * elapsed / dur:6.2f} {idtxt:>5s}",
              flush=True)
    if not rows:
        print("no conversations selected")
        return 2
    ders = [r[4]["der"] for r in rows]
    fracs = [r[5] / r[1] for r in rows]
    total_dur = sum(r[1] for r in rows)
    total_time = sum(r[5] for r in rows)
    print("-" * len(header))
    print(f"median DER {100 * statistics.median(ders):.2f} %  (max {100 * max(ders):.2f} %), "
          f"median time {100 * statistics.median(fracs):.2f} % of audio; "
          f"total {total_time:.1f} s for {total_dur / 60:.1f} min "
          f"({100 * total_time / total_dur:.2f} %); speaker count right in "
          f"{sum(r[2] == r[3] for r in rows)}/{len(rows)}")
    failed = [r[0] for r, d, f in zip(rows, ders, fracs) if d > DER_TARGET or f > RTF_TARGET]
    if failed:
        print(f"TARGETS MISSED (DER <= {100 * DER_TARGET:.0f} %, "
              f"time <= {100 * RTF_TARGET:.0f} %): " + ", ".join(failed))
        return 1
    print(f"all targets met (DER <= {100 * DER_TARGET:.0f} %, time <= {100 * RTF_TARGET:.0f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
