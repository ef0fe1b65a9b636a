"""Voice pipelines: a spoken question in, a spoken answer out (STT -> LLM -> TTS), streamed stage by stage
so the first clause of the reply is heard while the rest is still being written."""

from voxgate.pipelines.service import Heard, VoicePipeline

__all__ = ["Heard", "VoicePipeline"]
