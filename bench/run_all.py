"""`make bench`: run every bench/bench_*.py in turn (each measures voxgate beside its baseline)."""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    only = set(sys.argv[1:])
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        if only and script.stem not in only and script.stem.removeprefix("bench_") not in only:
            continue
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        module = runpy.run_path(str(script), run_name="bench")
        code = module["main"]()
        print(f"--- {script.name}: {'ok' if not code else 'TARGET MISSED'} in {time.perf_counter() - started:.0f}s")
        if code:
            failed.append(script.name)
    if failed:
        print("targets missed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
