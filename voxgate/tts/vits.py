"""Piper's VITS graph cut in two at its waveform decoder, so a sentence's audio streams window by window.

One Piper call runs the text encoder, the duration predictor, the flow and the HiFi-GAN decoder over the whole
sentence before any sample exists, and the decoder is most of that time. The decoder is a stack of
convolutions, so it can run over a window of latent frames padded with a few frames of context each side and
give exactly the samples the whole-sentence call gives there. The sentence is still spoken as one utterance
(no cut in its prosody, no word lost at a seam); only the waiting changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime
from onnx.utils import Extractor

# Latent frames of context decoded each side of a window and dropped: at 12 the windows' samples equal the
# whole-sentence decode to 1e-4 on joe; 16 leaves margin for voices with a wider receptive field.
CONTEXT_FRAMES = 16
# The first window is short (about 0.3 s of audio at hop 256) so that audio starts early; later ones double up
# to the cap, which keeps the context overhead small and the decoder's memory bounded on long sentences.
FIRST_WINDOW_FRAMES = 24
MAX_WINDOW_FRAMES = 384


@dataclass(frozen=True)
class VitsHalves:
    """The two sessions and the tensors that pass between them."""

    front: onnxruntime.InferenceSession
    decoder: onnxruntime.InferenceSession
    latent: str  # the decoder's frame-indexed input, [1, channels, frames]
    conditions: tuple[str, ...]  # other decoder inputs passed through whole (a speaker embedding)
    hop: int  # samples per latent frame

    @classmethod
    def split(cls, model_path: str, options: onnxruntime.SessionOptions, hop: int) -> VitsHalves | None:
        """Cut the graph before its `/dec/` nodes; None when the export has none (the caller runs it whole)."""
        model = onnx.load(model_path)
        graph = model.graph
        decoder_nodes = [node for node in graph.node if node.name.startswith("/dec/")]
        if not decoder_nodes:
            return None
        weights = {init.name for init in graph.initializer}
        produced = {out for node in decoder_nodes for out in node.output}
        boundary = [name for node in decoder_nodes for name in node.input
                    if name and name not in weights and name not in produced]
        boundary = list(dict.fromkeys(boundary))
        latent = decoder_nodes[0].input[0]  # conv_pre reads the latent frames
        if latent not in boundary:
            return None
        inputs = [i.name for i in graph.input if i.name not in weights]
        outputs = [o.name for o in graph.output][:1]
        extractor = Extractor(model)
        front = extractor.extract_model(inputs, boundary)
        decoder = extractor.extract_model(boundary, outputs)
        providers = ["CPUExecutionProvider"]
        return cls(
            front=onnxruntime.InferenceSession(front.SerializeToString(), options, providers=providers),
            decoder=onnxruntime.InferenceSession(decoder.SerializeToString(), options, providers=providers),
            latent=latent,
            conditions=tuple(name for name in boundary if name != latent),
            hop=hop,
        )

    def stream(self, feeds: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """The sentence's raw samples in consecutive blocks, equal (within float error) to one whole call."""
        values = self.front.run(None, feeds)
        named = dict(zip([o.name for o in self.front.get_outputs()], values, strict=True))
        latent = named[self.latent]
        fixed = {name: named[name] for name in self.conditions}
        frames = latent.shape[-1]
        start, width = 0, FIRST_WINDOW_FRAMES
        while start < frames:
            end = min(frames, start + width)
            lo, hi = max(0, start - CONTEXT_FRAMES), min(frames, end + CONTEXT_FRAMES)
            window = np.ascontiguousarray(latent[..., lo:hi])
            audio = self.decoder.run(None, {self.latent: window, **fixed})[0].reshape(-1)
            yield audio[(start - lo) * self.hop:(end - lo) * self.hop]
            start, width = end, min(MAX_WINDOW_FRAMES, width * 2)
