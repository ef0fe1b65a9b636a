"""Speaker diarization: who spoke when in a recording, naming speakers from reference clips, and
putting the speaker labels onto a transcript. CPU only (Silero VAD + an ONNX d-vector encoder).

Modules, each with one job: `options` (tunables), `embedding` (features and the encoder),
`clustering` (embeddings -> labels -> turns), `pipeline` (`diarize`), `known` (reference
matching) and `labels` (`SpeakerTurn`, `assign_speakers`).
"""

from voxgate.diarize.embedding import SpeakerEmbedder
from voxgate.diarize.known import match_known_speakers
from voxgate.diarize.labels import SpeakerTurn, assign_speakers
from voxgate.diarize.options import DiarizationOptions
from voxgate.diarize.pipeline import diarize, speaker_embeddings

__all__ = [
    "DiarizationOptions",
    "SpeakerEmbedder",
    "SpeakerTurn",
    "assign_speakers",
    "diarize",
    "match_known_speakers",
    "speaker_embeddings",
]
