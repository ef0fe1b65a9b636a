"""Conversation benchmark: turns of 2-8 s with 0.1-1.0 s gaps, voxgate beside plain faster-whisper.

Conversations come from bench/conversation_data.py (real LibriVox and pocketsphinx readers, Piper, flite,
espeak-ng; turns cut mid-sentence at quiet points). A turn's reference is its transcript where it is made of
whole clips or sentences, else faster-whisper sequential's transcript of that turn alone (computed once and
cached in the conversation's JSON). Measured, same weights (catalog whisper-base, int8), 2 threads, beam 5,
nobody told the language:
  1. faster-whisper WhisperModel.transcribe (sequential)
  2. faster-whisper BatchedInferencePipeline, batch 8
  3. voxgate over HTTP with the official SDK (a server started like the test suite's)
Reported per conversation and pooled: WER, the share of reference words deleted, and time. Targets (pooled):
voxgate's WER and its deletion share each at most sequential's + 0.5 point. Exit status 1 when missed.

Run from the repo root: `.venv/bin/python bench/bench_conversation.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import conversation_data  # noqa: E402
from bench.bench_longform import BEAM, MODEL, THREADS, VoxgateServer, _model_path  # noqa: E402

SLACK = 0.005  # half a point, for WER and for the deletion share


def _whisper():  # type: ignore[no-untyped-def]
    from faster_whisper import WhisperModel

    return WhisperModel(str(_model_path()), device="cpu", compute_type="int8", cpu_threads=THREADS)


def run_worker(kind: str) -> dict[str, object]:
    """In a child process: references for the turns without one, or one baseline over every conversation."""
    from faster_whisper import BatchedInferencePipeline

    model = _whisper()
    convs = conversation_data.conversations()
    if kind == "reference":
        written = 0
        for conv in convs:
            audio, _ = conversation_data.read_wav(conv.path)
            for turn in conv.turns:
                if turn.text is None:
                    clip = audio[int(turn.start * conversation_data.SR):int(turn.end * conversation_data.SR)]
                    segments, _ = model.transcribe(clip, beam_size=BEAM, language="en")
                    turn.text = "".join(s.text for s in segments).strip()
                    written += 1
            conv.save()
        return {"written": written}
    out: dict[str, object] = {}
    for conv in convs:
        started = time.perf_counter()
        if kind == "sequential":
            segments, _ = model.transcribe(str(conv.path), beam_size=BEAM)
        else:
            segments, _ = BatchedInferencePipeline(model).transcribe(str(conv.path), beam_size=BEAM, batch_size=8)
        text = "".join(s.text for s in segments)
        out[conv.spec.name] = {"seconds": time.perf_counter() - started, "text": text}
    return out


def _child(kind: str) -> dict[str, dict[str, object]]:
    done = subprocess.run([sys.executable, __file__, "--worker", kind], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def scores(reference: str, hypothesis: str) -> dict[str, float]:
    """WER and its parts over normalised words (tests/helpers.normalize)."""
    import jiwer
    from tests.helpers import normalize

    ref, hyp = normalize(reference), normalize(hypothesis)
    m = jiwer.process_words(ref, hyp)
    n = len(ref.split())
    return {"wer": m.wer, "deleted": m.deletions / n, "inserted": m.insertions / n, "words": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each system (interleaved); medians reported")
    parser.add_argument("--worker", choices=("reference", "sequential", "batched"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.worker:
        print(json.dumps(run_worker(args.worker)))
        return 0

    convs = conversation_data.conversations()
    if any(t.text is None for c in convs for t in c.turns):
        print(f"references: {_child('reference')['written']} turns transcribed alone", flush=True)
        convs = conversation_data.conversations()
    total = sum(c.turns[-1].end for c in convs)
    print(f"{len(convs)} conversations, {total / 60:.1f} min, {sum(len(c.turns) for c in convs)} turns; {MODEL}, "
          f"{THREADS} threads, beam {BEAM}", flush=True)
    names = {"sequential": "faster-whisper sequential", "batched": "faster-whisper batched-8",
             "voxgate": "voxgate (HTTP)"}
    runs: dict[str, list[dict[str, dict[str, object]]]] = {k: [] for k in names}
    server = VoxgateServer(conversation_data.OUT / "server")
    try:
        for _ in range(args.repeat):
            for kind in names:
                if kind == "voxgate":
                    runs[kind].append({c.spec.name: server.transcribe(c.path) for c in convs})
                else:
                    runs[kind].append(_child(kind))
    finally:
        server.close()

    print(f"\n{'conversation':<30} {'system':<26} {'WER':>7} {'deleted':>8} {'inserted':>9} {'time':>7}")
    pooled: dict[str, dict[str, float]] = {}
    for kind, name in names.items():
        per_run = []
        for run in runs[kind]:
            refs = " ".join(c.reference for c in convs)
            hyps = " ".join(str(run[c.spec.name]["text"]) for c in convs)
            per_run.append({**scores(refs, hyps), "seconds": sum(float(run[c.spec.name]["seconds"]) for c in convs)})
        pooled[kind] = {m: statistics.median(r[m] for r in per_run) for m in per_run[0]}
        for conv in convs:
            s = [scores(conv.reference, str(run[conv.spec.name]["text"])) for run in runs[kind]]
            secs = statistics.median(float(run[conv.spec.name]["seconds"]) for run in runs[kind])
            mid = {m: statistics.median(x[m] for x in s) for m in ("wer", "deleted", "inserted")}
            print(f"{conv.spec.name:<30} {name:<26} {mid['wer']:6.2%} {mid['deleted']:7.2%} {mid['inserted']:8.2%}"
                  f" {secs:6.1f}s")
    print()
    seq = pooled["sequential"]
    for kind, name in names.items():
        p = pooled[kind]
        print(f"{'all (pooled)':<30} {name:<26} {p['wer']:6.2%} {p['deleted']:7.2%} {p['inserted']:8.2%} "
              f"{p['seconds']:6.1f}s  {seq['seconds'] / p['seconds']:.2f}x sequential")
    vox = pooled["voxgate"]
    checks = {
        "voxgate WER <= sequential + 0.5 point": vox["wer"] <= seq["wer"] + SLACK,
        "voxgate deleted share <= sequential + 0.5 point": vox["deleted"] <= seq["deleted"] + SLACK,
    }
    for check, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {check}")
    (conversation_data.OUT / "results.json").write_text(json.dumps({"runs": runs, "pooled": pooled}, indent=1,
                                                                   default=float))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
