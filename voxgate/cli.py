"""`voxgate serve | keys | transcribe | speak`: the operator's command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from voxgate.config import Settings

app = typer.Typer(help="voxgate: a self-hosted, OpenAI-compatible speech API server.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()


def _keystore(settings: Settings):  # type: ignore[no-untyped-def]
    from voxgate.store.db import Database
    from voxgate.store.keys import KeyStore

    return KeyStore(Database(settings.db_path))


@app.command()
def serve(host: Optional[str] = typer.Option(None, help="Bind address (VOXGATE_HOST)"),
          port: Optional[int] = typer.Option(None, help="Port (VOXGATE_PORT)")) -> None:
    """Start the HTTP server."""
    import uvicorn

    from voxgate.app import create_app

    settings = Settings.from_env()
    host = host or settings.host
    port = port or settings.port
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    application = create_app(settings)
    console.print(f"[bold]voxgate[/bold] serving on [cyan]http://{host}:{port}/v1[/cyan]  (data: {settings.data_dir})")
    if settings.bootstrap_key:
        console.print("API key: the value of VOXGATE_BOOTSTRAP_KEY")
    else:
        console.print("Get an API key with: [cyan].venv/bin/voxgate keys create --name me[/cyan] "
                      "(or set VOXGATE_BOOTSTRAP_KEY)")
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level, access_log=False)


@keys_app.command("create")
def keys_create(name: str = typer.Option("default", help="A label for the key")) -> None:
    """Create a key and print it once."""
    record, plain = _keystore(Settings.from_env()).create(name)
    console.print(f"created {record.id} ({record.name}); this key is shown only once:")
    print(plain)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids and prefixes only: keys are stored hashed)."""
    table = Table("id", "name", "prefix", "revoked")
    for k in _keystore(Settings.from_env()).list():
        table.add_row(k.id, k.name, k.prefix + "…", "yes" if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id."""
    if not _keystore(Settings.from_env()).revoke(key_id):
        console.print(f"[red]no live key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@app.command()
def transcribe(file: Path, model: str = typer.Option("whisper-base"),
               format: str = typer.Option("text", "--format", help="json text srt vtt verbose_json"),
               language: Optional[str] = None, output: Optional[Path] = typer.Option(None, "-o")) -> None:
    """Transcribe a local file without a server."""
    from voxgate.asr.engine import DecodeOptions
    from voxgate.asr.formats import render
    from voxgate.asr.service import TranscriptionParams, TranscriptionService
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    settings = Settings.from_env()
    catalog = Catalog.load(*(p for p in (settings.catalog_path,) if p))
    spec = catalog.resolve(model)
    if spec is None or spec.task != "transcription":
        console.print(f"[red]unknown transcription model {model}[/red]")
        raise typer.Exit(2)
    service = TranscriptionService(ModelRegistry(catalog, settings.model_cache_dir, settings.cpu_threads))
    params = TranscriptionParams(model=spec, decode=DecodeOptions(language=language, word_timestamps=False),
                                 response_format=format)
    transcript = service.transcribe(service.load_audio(file), params)
    body, _ = render(transcript, format)
    text = json.dumps(body, ensure_ascii=False, indent=2) if isinstance(body, dict) else body
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def speak(text: str, output: Path = typer.Option(..., "-o"), model: str = typer.Option("piper-joe"),
          voice: str = typer.Option("alloy"), format: str = typer.Option("mp3", "--format"),
          speed: float = 1.0) -> None:
    """Synthesise speech to a local file without a server."""
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.tts.engine import SpeechOptions
    from voxgate.tts.service import SpeechService

    settings = Settings.from_env()
    catalog = Catalog.load(*(p for p in (settings.catalog_path,) if p))
    spec = catalog.resolve(model)
    native = spec.resolve_voice(voice) if spec else None
    if spec is None or native is None:
        console.print(f"[red]unknown model or voice: {model} / {voice}[/red]")
        raise typer.Exit(2)
    service = SpeechService(ModelRegistry(catalog, settings.model_cache_dir, settings.cpu_threads))
    with output.open("wb") as fh:
        for chunk in service.stream(spec, text, SpeechOptions(voice=native, speed=speed), format):
            fh.write(chunk)
    console.print(f"wrote {output}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
