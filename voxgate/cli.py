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


def _pipeline_id(settings: Settings, name: Optional[str]) -> Optional[str]:
    """Store a pipeline as its catalog id, so aliases of the model keep working."""
    if not name:
        return None
    from voxgate.models.catalog import Catalog

    extra = [p for p in (settings.catalog_path, settings.data_dir / "catalog.toml") if p is not None]
    spec = Catalog.load(*extra).resolve(name)
    if spec is None:
        console.print(f"[red]unknown model {name!r}[/red]")
        raise typer.Exit(2)
    return spec.id


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
def keys_create(
    name: str = typer.Option("default", help="A label for the key"),
    pipeline: Optional[str] = typer.Option(None, help="Lock the key to one model (id or alias)"),
    credits: Optional[float] = typer.Option(None, min=0, help="Credit balance (default: unlimited, still metered)"),
    rpm: Optional[int] = typer.Option(None, min=0, help="Requests per minute (default VOXGATE_DEFAULT_RPM; 0 = none)"),
    concurrency: Optional[int] = typer.Option(None, min=0, help="Requests in flight (default "
                                              "VOXGATE_DEFAULT_CONCURRENCY; 0 = none)"),
    admin: bool = typer.Option(False, "--admin", help="May manage keys over /v1/admin"),
) -> None:
    """Create a key and print it once."""
    settings = Settings.from_env()
    record, plain = _keystore(settings).create(name, admin=admin, pipeline=_pipeline_id(settings, pipeline),
                                               credits=credits, rpm=rpm, concurrency=concurrency)
    Console(stderr=True).print(f"created {record.id} ({record.name}); this key is shown only once:")
    print(plain)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids and prefixes only: keys are stored hashed)."""
    table = Table("id", "name", "prefix", "admin", "pipeline", "credits", "rpm", "concurrency", "revoked")
    for k in _keystore(Settings.from_env()).list():
        table.add_row(k.id, k.name, k.prefix + "…", "yes" if k.admin else "", k.pipeline or "(all)",
                      "unlimited" if k.credits is None else f"{k.credits:g}",
                      "default" if k.rpm is None else str(k.rpm),
                      "default" if k.concurrency is None else str(k.concurrency), "yes" if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id."""
    if not _keystore(Settings.from_env()).revoke(key_id):
        console.print(f"[red]no live key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@keys_app.command("set")
def keys_set(
    key_id: str,
    name: Optional[str] = typer.Option(None, help="New label"),
    pipeline: Optional[str] = typer.Option(None, help="Lock the key to this model"),
    workspace: bool = typer.Option(False, "--workspace", help="Remove the pipeline lock: every model"),
    credits: Optional[float] = typer.Option(None, min=0, help="Set the credit balance"),
    add_credits: Optional[float] = typer.Option(None, help="Top the balance up (or down, if negative)"),
    unlimited_credits: bool = typer.Option(False, "--unlimited-credits", help="Drop the balance: unlimited"),
    rpm: Optional[int] = typer.Option(None, min=0, help="Requests per minute (0 = none)"),
    concurrency: Optional[int] = typer.Option(None, min=0, help="Requests in flight (0 = none)"),
    admin: Optional[bool] = typer.Option(None, "--admin/--no-admin", help="Grant or remove admin"),
) -> None:
    """Change a key's scope, credits or limits."""
    settings = Settings.from_env()
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if pipeline is not None and workspace:
        console.print("[red]--pipeline and --workspace contradict each other[/red]")
        raise typer.Exit(2)
    if pipeline is not None:
        changes["pipeline"] = _pipeline_id(settings, pipeline)
    if workspace:
        changes["pipeline"] = None
    if sum(x is not None and x is not False for x in (credits, add_credits, unlimited_credits or None)) > 1:
        console.print("[red]give one of --credits, --add-credits, --unlimited-credits[/red]")
        raise typer.Exit(2)
    if credits is not None:
        changes["credits"] = credits
    if unlimited_credits:
        changes["credits"] = None
    if add_credits is not None:
        changes["add_credits"] = add_credits
    for field_name, value in (("rpm", rpm), ("concurrency", concurrency), ("admin", admin)):
        if value is not None:
            changes[field_name] = value
    record = _keystore(settings).update(key_id, **changes)  # type: ignore[arg-type]
    if record is None:
        console.print(f"[red]no live key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(json.dumps(record.public()))


@app.command()
def transcribe(file: Path, model: str = typer.Option("whisper-base", help="Model id or alias"),
               format: str = typer.Option("text", "--format", help="json text srt vtt verbose_json"),
               language: Optional[str] = typer.Option(None, help="ISO-639-1 code (default: detect)"),
               words: bool = typer.Option(False, "--words", help="Word timestamps (verbose_json)"),
               output: Optional[Path] = typer.Option(None, "-o", "--output",
                                                     help="Write here (default: stdout)")) -> None:
    """Transcribe a local file of any length without a server, with a progress bar."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from voxgate.asr.engine import DecodeOptions
    from voxgate.asr.formats import ALL_FORMATS, render
    from voxgate.asr.service import TranscriptionParams, TranscriptionService
    from voxgate.audio.decode import AudioDecodeError
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    err = Console(stderr=True)
    if format not in ALL_FORMATS or format == "diarized_json":
        err.print(f"[red]--format must be one of json text srt vtt verbose_json, not {format}[/red]")
        raise typer.Exit(2)
    settings = Settings.from_env()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s %(message)s")
    catalog = Catalog.load(*(p for p in (settings.catalog_path, settings.data_dir / "catalog.toml") if p))
    spec = catalog.resolve(model)
    if spec is None or spec.task != "transcription":
        err.print(f"[red]unknown transcription model {model}[/red]")
        raise typer.Exit(2)
    service = TranscriptionService(ModelRegistry(catalog, settings.model_cache_dir, settings.cpu_threads),
                                   settings.data_dir / "tmp")
    decode = DecodeOptions(language=language, word_timestamps=words, timings=format not in ("json", "text"))
    params = TranscriptionParams(model=spec, decode=decode, response_format=format, words=words)
    try:
        audio = service.load_audio(file)
    except (AudioDecodeError, OSError) as exc:
        err.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(1) from None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"{file.name} ({audio.duration / 60:.1f} min)", total=max(audio.duration, 1e-3))
        service.engine(spec)  # load before the clock starts
        transcript = service.transcribe(audio, params,
                                        on_progress=lambda done, total: bar.update(task, completed=done))
    body, _ = render(transcript, format, words=words)
    text = json.dumps(body, ensure_ascii=False, indent=2) if isinstance(body, dict) else body
    if output:
        output.write_text(text if text.endswith("\n") else text + "\n")
        err.print(f"wrote {output}")
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
