"""Make a catalog entry's weights loadable: join split files once into the cache and verify them.

Verification results are stamped next to the cache so a restart does not hash 150 MB again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from voxgate.models.catalog import ModelSpec


class WeightsError(RuntimeError):
    """Weights are missing or fail their size/SHA-256 check."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(paths: list[Path]) -> list[list[object]]:
    return [[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in paths]


def _stamp_ok(stamp: Path, fingerprint: list[list[object]]) -> bool:
    try:
        return json.loads(stamp.read_text()) == fingerprint
    except (OSError, ValueError):
        return False


def _verify(path: Path, size: int | None, sha256: str | None, label: str) -> None:
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise WeightsError(f"{label}: size {actual} != expected {size}")
    if sha256 is not None and sha256_of(path) != sha256:
        raise WeightsError(f"{label}: SHA-256 mismatch")


def prepare(spec: ModelSpec, cache_dir: Path) -> Path:
    """Return a path the engine can load (directory for Whisper, .onnx file for Piper, nothing for a remote)."""
    if spec.remote:
        return spec.path
    if not spec.path.exists():
        raise WeightsError(f"model {spec.id!r}: weights not found at {spec.path}")
    if spec.join is None:
        _verify_listed(spec, cache_dir)
        return spec.path
    return _join(spec, cache_dir)


def _verify_listed(spec: ModelSpec, cache_dir: Path) -> None:
    """Check per-file SHA-256 sums listed in the catalog, once per file version."""
    if not spec.sha256:
        return
    files = [spec.path / name if spec.path.is_dir() else spec.path for name in spec.sha256]
    stamp = cache_dir / spec.id.replace("/", "__") / ".verified"
    fingerprint = _fingerprint(files)
    if _stamp_ok(stamp, fingerprint):
        return
    for name, file in zip(spec.sha256, files):
        _verify(file, None, spec.sha256[name], f"model {spec.id!r} file {name}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(fingerprint))


def _join(spec: ModelSpec, cache_dir: Path) -> Path:
    """Assemble `<cache>/<id>/` from the source directory plus the joined file."""
    assert spec.join is not None
    target_dir = cache_dir / spec.id.replace("/", "__")
    target = target_dir / spec.join.file
    stamp = target_dir / ".verified"
    parts = list(spec.join.parts)
    missing = [p for p in parts if not p.exists()]
    if missing:
        raise WeightsError(f"model {spec.id!r}: missing weight parts {', '.join(map(str, missing))}")
    fingerprint = _fingerprint(parts)
    if target.exists() and _stamp_ok(stamp, fingerprint):
        return target_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    if spec.path.is_dir():
        part_names = {p.name for p in parts}
        for item in spec.path.iterdir():
            if item.is_file() and item.name not in part_names and item.name != spec.join.file:
                link = target_dir / item.name
                if link.is_symlink() or link.exists():
                    link.unlink()
                os.symlink(item, link)
    tmp = target.with_suffix(target.suffix + f".tmp{os.getpid()}")
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    try:
        _verify(tmp, spec.join.size, spec.join.sha256, f"model {spec.id!r} joined {spec.join.file}")
    except WeightsError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    stamp.write_text(json.dumps(fingerprint))
    return target_dir
