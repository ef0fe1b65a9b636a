"""Voice matching: a custom voice made from a reference clip, as a blend of a model's bundled voices chosen to
sound most like the reference's speaker (by speaker-embedding similarity). Not cloning: no package ships
zero-shot cloning weights, so the voice is the nearest mix of the voices the model already has."""

from voxgate.voicematch.matcher import Match, MatchBusy, VoiceMatcher
from voxgate.voicematch.reference import Reference, SampleError, load_reference

__all__ = ["Match", "MatchBusy", "Reference", "SampleError", "VoiceMatcher", "load_reference"]
