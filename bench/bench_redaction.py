"""Precision/recall of voxgate's PII redaction on the hand-labelled sentences in bench/data.

Run from the repository root:  python bench/bench_redaction.py [--data PATH] [--show-errors]
Exits non-zero when a category misses its target. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "pii_sentences.jsonl"
CATEGORIES = ("email", "phone", "card", "name")
RECALL_TARGET = {"email": 0.95, "phone": 0.95, "card": 0.95, "name": 0.85}
PRECISION_TARGET = {c: 0.90 for c in CATEGORIES}


@dataclass
class Gold:
    """One labelled PII item: its category and character range in the sentence."""

    category: str
    start: int
    end: int


@dataclass
class Example:
    text: str
    gold: list[Gold] = field(default_factory=list)


@dataclass
class Score:
    """Counts for one category; recall is over gold items, precision over predicted spans."""

    gold: int = 0
    recalled: int = 0
    predicted: int = 0
    true_pos: int = 0

    @property
    def recall(self) -> float:
        return self.recalled / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.true_pos / self.predicted if self.predicted else 1.0


def load_examples(path: Path = DATA) -> list[Example]:
    """Read the JSONL file; each gold `text` must be an exact substring (its first occurrence is used)."""
    out: list[Example] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            text = row["text"]
            ex = Example(text)
            for item in row.get("pii", []):
                i = text.find(item["text"])
                if i < 0:
                    raise ValueError(f"{path}:{lineno}: gold text not found in sentence")
                ex.gold.append(Gold(item["category"], i, i + len(item["text"])))
            out.append(ex)
    return out


def evaluate(examples: list[Example], show_errors: bool = False) -> tuple[dict[str, Score], float]:
    """Per-category scores and mean milliseconds per sentence (model load excluded)."""
    sys.path.insert(0, str(ROOT))
    from voxgate.redact import Redactor, preload

    preload()
    redactor = Redactor(CATEGORIES)
    scores = {c: Score() for c in CATEGORIES}
    t0 = time.perf_counter()
    predictions = [redactor.find(ex.text) for ex in examples]
    elapsed = time.perf_counter() - t0
    for ex, pred in zip(examples, predictions):
        for g in ex.gold:
            sc = scores[g.category]
            sc.gold += 1
            ok = any(p.category == g.category and p.start <= g.start and p.end >= g.end for p in pred)
            sc.recalled += ok
            if not ok and show_errors:
                print(f"MISS  {g.category:5} {ex.text[g.start:g.end]!r}  in  {ex.text!r}")
        for p in pred:
            sc = scores[p.category]
            sc.predicted += 1
            ok = any(g.category == p.category and g.start < p.end and p.start < g.end for g in ex.gold)
            sc.true_pos += ok
            if not ok and show_errors:
                print(f"FALSE {p.category:5} {ex.text[p.start:p.end]!r}  in  {ex.text!r}")
    return scores, 1000.0 * elapsed / max(1, len(examples))


def report(scores: dict[str, Score], ms_per_sentence: float, n: int) -> bool:
    """Print the table; True when every target is met."""
    print(f"{'category':10}{'gold':>6}{'pred':>6}{'recall':>9}{'target':>8}{'precision':>11}{'target':>8}  ok")
    all_ok = True
    for c in CATEGORIES:
        s = scores[c]
        ok = s.recall >= RECALL_TARGET[c] and s.precision >= PRECISION_TARGET[c]
        all_ok &= ok
        print(
            f"{c:10}{s.gold:>6}{s.predicted:>6}{s.recall:>9.1%}{RECALL_TARGET[c]:>8.0%}"
            f"{s.precision:>11.1%}{PRECISION_TARGET[c]:>8.0%}  {'yes' if ok else 'NO'}"
        )
    print(f"{n} sentences, {ms_per_sentence:.2f} ms per sentence (all categories, model preloaded)")
    return all_ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--show-errors", action="store_true", help="print misses and false positives (test data only)")
    args = ap.parse_args(argv)
    examples = load_examples(args.data)
    scores, ms = evaluate(examples, show_errors=args.show_errors)
    return 0 if report(scores, ms, len(examples)) else 1


if __name__ == "__main__":
    sys.exit(main())
