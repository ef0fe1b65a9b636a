"""Word error rate through the HTTP API: whisper-base and tiny.en on the LibriVox clips (pocketsphinx-testdata),
and the speech -> text round trip of a paragraph (median of 5, since Piper's synthesis is stochastic).
Targets from the foundation issue: LibriVox WER <= 8 %, round trip <= 5 %."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUNS = 5


def main() -> int:
    from tests.conftest import start_server, stop_server
    from tests.helpers import librivox_clips, wer
    from tests.test_speech import PARAGRAPH

    live = start_server(Path(tempfile.mkdtemp(prefix="bench-accuracy-")))
    try:
        client = live.client()
        refs = " ".join(text for _, text in librivox_clips())
        results = {}
        for model in ("whisper-base", "whisper-tiny.en"):
            hyps = [client.audio.transcriptions.create(model=model, file=path.open("rb")).text
                    for path, _ in librivox_clips()]
            results[model] = wer(refs, " ".join(hyps))
            print(f"LibriVox (5 clips, 24.7 s) {model:16s} WER {100 * results[model]:5.2f} %")
        trips = []
        for _ in range(RUNS):
            audio = client.audio.speech.create(model="tts-1", voice="alloy", input=PARAGRAPH, response_format="mp3")
            trips.append(wer(PARAGRAPH, client.audio.transcriptions.create(model="whisper-1", file=audio.content).text))
        median = statistics.median(trips)
        print(f"round trip piper-joe -> whisper-base, {RUNS} runs: median WER {100 * median:.2f} % "
              f"(runs: {', '.join(f'{100 * t:.1f}' for t in trips)})")
    finally:
        stop_server(live)
    return 0 if results["whisper-base"] <= 0.08 and median <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
