"""The model catalog: which model ids exist, what they are called by alias, and where their weights live.

The built-in catalog.toml ships with voxgate; an operator's TOML file is merged over it entry by entry
(same id replaces, new id adds), so a local CTranslate2 Whisper or Piper voice needs no code change."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxgate.errors import APIError, bad_request
from voxgate.models.languages import OPENAI_VOICES

BUILTIN_CATALOG = Path(__file__).with_name("catalog.toml")
ENGINES = {"faster-whisper": "transcription", "piper": "speech", "kokoro": "speech", "llama-cpp": "chat",
           "openai-compatible": "chat", "sentence-transformer": "embedding"}
REMOTE = frozenset({"openai-compatible"})  # engines that forward to a server: no weights, a `base_url`
REMOTE_TASKS = frozenset({"chat", "embedding", "image"})  # what an upstream entry may serve (its `task`)
LOCATIONS = ("voices_archive",)  # options that name files: resolved like `path`, and needed like it


class CatalogError(ValueError):
    """The catalog file is malformed; raised at start-up, never per request."""


@dataclass(frozen=True)
class JoinSpec:
    """One weight file assembled from parts (wheels cap file sizes), verified by size and SHA-256."""

    file: str
    parts: tuple[Path, ...]
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry, with weight locations already resolved to absolute paths."""

    id: str
    engine: str
    task: str
    path: Path
    owned_by: str = "voxgate"
    description: str = ""
    aliases: tuple[str, ...] = ()
    compute_type: str = "int8"
    join: JoinSpec | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    voices: dict[str, int] = field(default_factory=dict)
    openai_voices: dict[str, str] = field(default_factory=dict)
    price_per_unit: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()  # other files the engine needs (LOCATIONS), resolved

    @property
    def default_voice(self) -> str | None:
        return next(iter(self.voices), None)

    def resolve_voice(self, voice: str) -> str | None:
        """Map an OpenAI voice name or a native voice id to a native voice id, or None if unknown."""
        if voice in self.voices:
            return voice
        lowered = voice.lower()
        if lowered in self.openai_voices:
            return self.openai_voices[lowered]
        if lowered in OPENAI_VOICES and self.default_voice:
            return self.default_voice
        return None

    def voice_names(self) -> list[str]:
        return sorted(set(self.voices) | set(OPENAI_VOICES) | set(self.openai_voices))

    @property
    def remote(self) -> bool:
        return self.engine in REMOTE

    def is_available(self) -> bool:
        """True when every weight file or part this entry needs is on disk (a remote model: an upstream is set)."""
        if self.remote:
            return bool(self.options.get("base_url"))
        if not all(p.exists() for p in self.files):
            return False
        if self.join is not None:
            return self.path.exists() and all(p.exists() for p in self.join.parts)
        return self.path.exists()


def resolve_location(value: str, base: Path) -> Path:
    """Turn 'package:<pkg>/<sub/path>', 'prefix:<path>' (inside the Python environment, where `make` puts
    what is not a wheel) or a plain path into an absolute path (it may not exist)."""
    if value.startswith("prefix:"):
        return Path(sys.prefix) / value[len("prefix:"):]
    if value.startswith("package:"):
        package, _, rest = value[len("package:"):].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return Path(f"/nonexistent-package/{package}/{rest}")
        return Path(list(spec.submodule_search_locations)[0]) / rest
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _parse_model(raw: dict[str, Any], base: Path) -> ModelSpec:
    try:
        model_id = str(raw["id"])
        engine = str(raw["engine"])
        path = resolve_location(str(raw["path"]), base) if engine not in REMOTE else Path(str(raw.get("path", "")))
    except KeyError as exc:
        raise CatalogError(f"catalog entry {raw.get('id', '?')!r} lacks {exc.args[0]!r}") from None
    if engine not in ENGINES:
        raise CatalogError(f"model {model_id!r}: unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    task = str(raw.get("task", ENGINES[engine]))
    if task != ENGINES[engine] and not (engine in REMOTE and task in REMOTE_TASKS):
        raise CatalogError(f"model {model_id!r}: engine {engine!r} cannot serve task {task!r}")
    join = None
    if "join" in raw:
        j = raw["join"]
        join = JoinSpec(
            file=str(j["file"]),
            parts=tuple(resolve_location(str(p), base) for p in j["parts"]),
            size=int(j["size"]) if "size" in j else None,
            sha256=str(j["sha256"]).lower() if "sha256" in j else None,
        )
    voices = {str(k): int(v) for k, v in raw.get("voices", {}).items()}
    if engine == "piper" and not voices:
        voices = {path.stem: 0}
    known = {"id", "engine", "task", "path", "owned_by", "description", "aliases", "compute_type", "join",
             "sha256", "voices", "openai_voices", "price_per_unit"}
    options = {k: v for k, v in raw.items() if k not in known}
    files = tuple(resolve_location(str(options[k]), base) for k in LOCATIONS if k in options)
    options.update({k: str(resolve_location(str(options[k]), base)) for k in LOCATIONS if k in options})
    return ModelSpec(
        id=model_id,
        engine=engine,
        task=task,
        path=path,
        owned_by=str(raw.get("owned_by", "voxgate")),
        description=str(raw.get("description", "")),
        aliases=tuple(str(a) for a in raw.get("aliases", ())),
        compute_type=str(raw.get("compute_type", "int8")),
        join=join,
        sha256={str(k): str(v).lower() for k, v in raw.get("sha256", {}).items()},
        voices=voices,
        openai_voices={str(k).lower(): str(v) for k, v in raw.get("openai_voices", {}).items()},
        price_per_unit=float(raw.get("price_per_unit", 0.0)),
        options=options,
        files=files,
    )


class Catalog:
    """All known models, looked up by id or alias."""

    def __init__(self, models: list[ModelSpec], defaults: dict[str, str | list[str]]) -> None:
        self.models = {m.id: m for m in models}
        # a task's default is one model, or a preference list: the first available one (the chat models,
        # the largest installed first)
        self.defaults = {task: (tuple(v) if isinstance(v, list) else (v,)) for task, v in defaults.items()}
        self.aliases: dict[str, str] = {}
        for m in models:
            for alias in m.aliases:
                self.aliases[alias] = m.id
        for task, model_ids in self.defaults.items():
            for model_id in model_ids:
                if model_id not in self.models:
                    raise CatalogError(f"default {task} model {model_id!r} is not in the catalog")

    @classmethod
    def load(cls, *extra: Path) -> Catalog:
        """Read the built-in catalog, then each existing extra file over it."""
        entries: dict[str, ModelSpec] = {}
        defaults: dict[str, str | list[str]] = {}
        for path in (BUILTIN_CATALOG, *extra):
            if not path.exists():
                continue
            try:
                data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise CatalogError(f"{path}: {exc}") from None
            defaults.update({str(k): ([str(x) for x in v] if isinstance(v, list) else str(v))
                             for k, v in data.get("defaults", {}).items()})
            for raw in data.get("models", []):
                spec = _parse_model(raw, path.parent)
                entries[spec.id] = spec
        return cls(list(entries.values()), defaults)

    def resolve(self, name: str) -> ModelSpec | None:
        """Find a model by id or alias; None when neither matches."""
        model_id = self.aliases.get(name, name)
        return self.models.get(model_id)

    def require(self, name: str | None, task: str) -> ModelSpec:
        """The available model `name` for `task`, or the client error that says what is wrong with it."""
        if not name:
            raise bad_request("'model' is required", param="model", code="missing_model")
        spec = self.resolve(name)
        if spec is None or not spec.is_available():
            raise APIError(404, f"model {name!r} does not exist; GET /v1/models lists the available ones",
                           code="model_not_found", param="model")
        if spec.task != task:
            raise bad_request(f"model {name!r} is a {spec.task} model, not a {task} model", param="model",
                              code="wrong_model_type")
        return spec

    def default(self, task: str) -> ModelSpec:
        """The task's default model: the first of its preference list that is available, else the first."""
        specs = [self.models[model_id] for model_id in self.defaults[task]]
        return next((spec for spec in specs if spec.is_available()), specs[0])
