"""Piper's graph cut at its decoder: the windows give the whole call's samples, and the first one is short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from piper.config import SynthesisConfig
from tests.conftest import MODEL_CACHE

from voxgate.models.catalog import Catalog
from voxgate.models.weights import prepare
from voxgate.tts.engine import PiperEngine, SpeechOptions
from voxgate.tts.vits import CONTEXT_FRAMES, FIRST_WINDOW_FRAMES

LONG = ("Open models for recognizing speech have improved a great deal over the last few years, and they now run "
        "on ordinary computers without a network connection.")


@pytest.fixture(scope="module")
def model() -> tuple[PiperEngine, Path]:
    spec = Catalog.load().resolve("piper-joe")
    assert spec is not None
    path = prepare(spec, MODEL_CACHE)
    return PiperEngine.load(spec, path, cpu_threads=2), path


def test_windows_equal_the_whole_graph(model: tuple[PiperEngine, Path]) -> None:
    engine, path = model
    assert engine.halves is not None
    whole = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    phonemes = engine.voice.phonemize(LONG)[0]
    feeds = engine._feeds(phonemes, quiet)
    expected = whole.run(None, feeds)[0].reshape(-1)
    blocks = list(engine.halves.stream(feeds))
    assert len(blocks) >= 4  # 24, 48, 96, 192 ... frames
    assert len(blocks[0]) == FIRST_WINDOW_FRAMES * engine.halves.hop
    joined = np.concatenate(blocks)
    assert joined.shape == expected.shape
    assert float(np.max(np.abs(joined - expected))) < 1e-3, "a window's context is too short"
    # without context the seams differ: the check above is not vacuous
    latent = engine.halves.front.run(None, feeds)[0]
    bare = engine.halves.decoder.run(None, {engine.halves.latent: latent[..., :FIRST_WINDOW_FRAMES]})[0]
    tail = slice((FIRST_WINDOW_FRAMES - 2) * engine.halves.hop, FIRST_WINDOW_FRAMES * engine.halves.hop)
    assert float(np.max(np.abs(bare.reshape(-1)[tail] - expected[tail]))) > 1e-3
    assert CONTEXT_FRAMES >= 12


def test_engine_streams_a_sentence_in_windows_at_one_gain(model: tuple[PiperEngine, Path]) -> None:
    engine, _ = model
    blocks = list(engine.synthesize(LONG, SpeechOptions(voice="joe")))
    assert len(blocks) >= 4
    assert len(blocks[0]) / engine.sample_rate < 0.5  # the first audio is a short window, not the sentence
    audio = np.concatenate(blocks)
    assert 0.5 < float(np.max(np.abs(audio))) <= 1.0
    assert audio.dtype == np.float32
    assert 5.0 < len(audio) / engine.sample_rate < 15.0
    assert engine.voice.session is None  # one copy of the weights: the halves' sessions
