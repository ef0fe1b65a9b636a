"""Inference on Ray (`VOXGATE_RAY_ADDRESS`): model engines as Ray actors, so more machines decode for one server.

Plain Ray actors, not Ray Serve: the batch scheduler already decides what runs together and when, so the
actors only need "decode this batch", and a plain actor keeps one loaded model per worker with nothing else
in the path (no extra HTTP hop or router between the scheduler and the model)."""

from voxgate.workers.ray_asr import RayAsr, RayDecoder
from voxgate.workers.ray_tts import RemoteSpeechEngine

__all__ = ["RayAsr", "RayDecoder", "RemoteSpeechEngine"]
