"""The architecture, checked: which voxgate package may import which (an AST walk over every module), and
no `_private` name imported from another module. A failure names the file, the line and the import.

Extend ALLOWED when a new package arrives; the arrows below are the layout the README describes."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "voxgate"

# Modules every layer may use: the shared vocabulary (plain types, the client error, webhook signing).
SHARED = {"voxgate", "errors", "transcript", "webhooks"}
# Composition roots: they build and wire everything, so they may import any layer.
ROOTS = {"app", "cli", "__main__"}
ALLOWED: dict[str, set[str]] = {
    "api": {"gateway", "transcription", "tts", "voicematch", "llm", "pipelines", "embeddings", "realtime", "models",
            "jobs", "audio", "metrics", "config", "playground"},
    "gateway": {"store", "models", "metrics", "config"},
    "jobs": {"transcription", "gateway", "store", "config"},
    "transcription": {"asr", "diarize", "redact", "audio", "models", "config"},
    "asr": {"audio", "models"},
    "diarize": {"audio", "models"},
    "redact": {"audio", "models"},
    "tts": {"audio", "models"},
    "voicematch": {"tts", "diarize", "audio", "models"},
    "llm": {"models", "config"},
    "embeddings": {"models"},
    # a spoken turn: the three use cases it chains; `store` for the Pipeline record only (it stores nothing)
    "pipelines": {"transcription", "llm", "tts", "audio", "models", "store"},
    # live sessions: the transcription use case, Silero from asr for server_vad, a pipeline's turn for
    # conversations (`store` for the Pipeline record only), `config` for its bounds
    "realtime": {"transcription", "asr", "pipelines", "audio", "models", "store", "config"},
    # inference on Ray actors: the Whisper and speech engines, the model spec, its settings
    "workers": {"asr", "tts", "models", "config"},
    "audio": set(),
    "playground": set(),  # the page's files only
    "metrics": set(),  # prometheus-client only: the composition root hands it what it reads
    "models": set(),
    "store": set(),
    "sdk": set(),
    "config": set(),
    "transport": {"config"},
    "voxgate": {"sdk"},  # the package root: `from voxgate import Client` loads the SDK on first use
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the imported module, absolute
    names: tuple[str, ...]  # names taken from it (`from x import a, b`)

    def where(self) -> str:
        names = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.path.relative_to(PACKAGE.parent)}:{self.line}: imports {self.module}{names}"


def layer_of(module: str) -> str:
    """`voxgate.asr.engine` -> "asr"; `voxgate.errors` -> "errors"; `voxgate` -> "voxgate"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append(Import(path, node.lineno, base, tuple(alias.name for alias in node.names)))
    return [i for i in found if i.module == "voxgate" or i.module.startswith("voxgate.")]


def all_imports() -> list[tuple[str, Import]]:
    return [(layer_of(module_name(path)), imp) for path in sorted(PACKAGE.rglob("*.py")) for imp in imports_of(path)]


def test_every_layer_is_declared() -> None:
    layers = {layer_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    undeclared = sorted(layers - set(ALLOWED) - SHARED - ROOTS)
    assert not undeclared, f"new top-level modules or packages need their arrows in ALLOWED: {undeclared}"


def layering_errors(imports: list[tuple[str, Import]]) -> list[str]:
    wrong = []
    for layer, imp in imports:
        target = layer_of(imp.module)
        if layer in ROOTS or target == layer or target in SHARED:
            continue
        if target not in ALLOWED.get(layer, set()):
            allowed = ", ".join(sorted(ALLOWED.get(layer, set()))) or "nothing but shared types"
            wrong.append(f"{imp.where()}: {layer}/ may not import {target}/ (allowed: {allowed})")
    return wrong


def is_module(package: str, name: str) -> bool:
    """`from voxgate.sdk import _calls` takes a (private) module, which is fine: httpx's layout."""
    base = PACKAGE.parent.joinpath(*package.split("."), name)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def private_errors(imports: list[tuple[str, Import]]) -> list[str]:
    return [f"{imp.where()}: a _private name" for _, imp in imports
            if any(name.startswith("_") and not name.startswith("__") and not is_module(imp.module, name)
                   for name in imp.names)]


def test_imports_follow_the_allowed_arrows() -> None:
    wrong = layering_errors(all_imports())
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_private_names_across_modules() -> None:
    wrong = private_errors(all_imports())
    assert not wrong, "private names imported from another module:\n" + "\n".join(wrong)


def test_the_sdk_runs_without_the_server() -> None:
    """`from voxgate import Client` must work with httpx alone: the SDK imports only itself and shared types."""
    wrong = [imp.where() for layer, imp in all_imports()
             if layer == "sdk" and layer_of(imp.module) not in {"sdk", "voxgate", "webhooks"}]
    assert not wrong, "\n".join(wrong)


def test_the_checks_name_a_planted_offender() -> None:
    """A green run means something: a bad arrow and a private import are caught and named."""
    engine = PACKAGE / "asr" / "engine.py"
    planted = [("asr", Import(engine, 7, "voxgate.store.db", ("Database",))),
               ("api", Import(PACKAGE / "api" / "speech.py", 9, "voxgate.tts.engine", ("_secret",)))]
    assert layering_errors(planted) == [
        "voxgate/asr/engine.py:7: imports voxgate.store.db (Database): asr/ may not import store/ "
        "(allowed: audio, models)"]
    assert private_errors(planted) == ["voxgate/api/speech.py:9: imports voxgate.tts.engine (_secret): a _private name"]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    assert layer_of("voxgate.asr.engine") == "asr" and layer_of("voxgate.errors") == "errors"
    assert module_name(PACKAGE / "asr" / "__init__.py") == "voxgate.asr"
