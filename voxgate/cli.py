"""`voxgate serve | keys | voices | transcribe | speak`: the operator's command line."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from voxgate.config import Settings, SettingsError
from voxgate.errors import APIError

if TYPE_CHECKING:
    from voxgate.gateway.accounts import Accounts
    from voxgate.gateway.pipelines import PipelineLibrary
    from voxgate.store.interfaces import Pipeline

app = typer.Typer(help="voxgate: a self-hosted, OpenAI-compatible speech API server.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
voices_app = typer.Typer(help="List the speech voices, and match a voice to a reference clip.", no_args_is_help=True)
app.add_typer(voices_app, name="voices")
pipelines_app = typer.Typer(help="Manage voice pipelines (STT -> LLM -> TTS).", no_args_is_help=True)
app.add_typer(pipelines_app, name="pipelines")
console = Console()


def _settings() -> Settings:
    """The configuration, or a clear message naming the bad variable (exit code 2)."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _accounts(settings: Settings) -> Accounts:
    from voxgate.app import open_accounts  # imported here: `voxgate --help` stays fast

    _say_if_new(settings)
    return open_accounts(settings)


def _say_if_new(settings: Settings) -> None:
    """A command about to create a database says where, so a key is not made in a directory no server reads."""
    if not settings.db_path.exists():
        Console(stderr=True).print(f"[yellow]no voxgate database in {settings.data_dir} yet: creating a new, empty "
                                   "one there (the server reads VOXGATE_DATA_DIR; `make serve` uses the checkout's "
                                   ".voxgate)[/yellow]")


def _refused(exc: APIError) -> typer.Exit:
    console.print(f"[red]{exc.message}[/red]")
    return typer.Exit(1 if exc.status == 404 else 2)


def _limit_malloc_arenas(arenas: int) -> None:
    """mallopt(M_ARENA_MAX) before the worker threads start (glibc only; elsewhere nothing to do)."""
    if arenas <= 0:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, arenas)  # -8 is M_ARENA_MAX
    except (OSError, AttributeError):
        pass


@app.command()
def serve(host: str | None = typer.Option(None, help="Bind address (VOXGATE_HOST)"),
          port: int | None = typer.Option(None, help="Port (VOXGATE_PORT)")) -> None:
    """Start the HTTP server."""
    import uvicorn

    from voxgate.app import create_app
    from voxgate.transport import guarded_protocol

    settings = _settings()
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    log_level = settings.server.log_level
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The port first: a busy one fails here, before anything is printed, loaded or started (the job runner).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        Console(stderr=True).print(f"[red]cannot listen on {host}:{port}: {exc.strerror or exc}[/red]")
        raise typer.Exit(1) from None
    port = sock.getsockname()[1]
    _limit_malloc_arenas(settings.server.malloc_arenas)
    application = create_app(settings)
    config = uvicorn.Config(application, host=host, port=port, log_level=log_level, access_log=False,
                            http=guarded_protocol(settings.connections),
                            ws_max_size=settings.realtime.max_message_bytes)
    console.print(f"[bold]voxgate[/bold] serving on [cyan]http://{host}:{port}/v1[/cyan]  (data: {settings.data_dir})")
    if settings.gateway.bootstrap_key:
        console.print("API key: the value of VOXGATE_BOOTSTRAP_KEY")
    else:
        console.print(f"Get an API key with: [cyan]VOXGATE_DATA_DIR={settings.data_dir} .venv/bin/voxgate keys "
                      "create --name me[/cyan] (or set VOXGATE_BOOTSTRAP_KEY)")
    uvicorn.Server(config).run(sockets=[sock])


@keys_app.command("create")
def keys_create(
    name: str = typer.Option("default", help="A label for the key"),
    pipeline: str | None = typer.Option(None, help="Lock the key to a pipeline (and its models) or one model"),
    credits: float | None = typer.Option(None, min=0, help="Credit balance (default: unlimited, still metered)"),
    rpm: int | None = typer.Option(None, min=0, help="Requests per minute (default VOXGATE_DEFAULT_RPM; 0 = none)"),
    concurrency: int | None = typer.Option(None, min=0, help="Requests in flight (default "
                                              "VOXGATE_DEFAULT_CONCURRENCY; 0 = none)"),
    admin: bool = typer.Option(False, "--admin", help="May manage keys over /v1/admin"),
) -> None:
    """Create a key and print it once."""
    try:
        record, plain = _accounts(_settings()).create_key(name, admin=admin, pipeline=pipeline, credits=credits,
                                                          rpm=rpm, concurrency=concurrency)
    except APIError as exc:
        raise _refused(exc) from None
    Console(stderr=True).print(f"created {record.id} ({record.name}); this key is shown only once:")
    print(plain)


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json", help="One JSON object per key, ids whole")) -> None:
    """List keys (ids and prefixes only: keys are stored hashed)."""
    keys = _accounts(_settings()).list_keys()
    if as_json:
        print(json.dumps([k.public() for k in keys], indent=2))
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=max((len(k.id) for k in keys), default=2))  # never cut
    for header in ("name", "prefix", "admin", "pipeline", "credits", "rpm", "concurrency", "revoked"):
        table.add_column(header)
    for k in keys:
        table.add_row(k.id, k.name, k.prefix + "…", "yes" if k.admin else "", k.pipeline or "(all)",
                      "unlimited" if k.credits is None else f"{k.credits:g}",
                      "default" if k.rpm is None else str(k.rpm),
                      "default" if k.concurrency is None else str(k.concurrency), "yes" if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id."""
    try:
        _accounts(_settings()).revoke_key(key_id)
    except APIError as exc:
        raise _refused(exc) from None
    console.print(f"revoked {key_id}")


@keys_app.command("set")
def keys_set(
    key_id: str,
    name: str | None = typer.Option(None, help="New label"),
    pipeline: str | None = typer.Option(None, help="Lock the key to this model"),
    workspace: bool = typer.Option(False, "--workspace", help="Remove the pipeline lock: every model"),
    credits: float | None = typer.Option(None, min=0, help="Set the credit balance"),
    add_credits: float | None = typer.Option(None, help="Top the balance up (or down, if negative)"),
    unlimited_credits: bool = typer.Option(False, "--unlimited-credits", help="Drop the balance: unlimited"),
    rpm: int | None = typer.Option(None, min=0, help="Requests per minute (0 = none)"),
    concurrency: int | None = typer.Option(None, min=0, help="Requests in flight (0 = none)"),
    admin: bool | None = typer.Option(None, "--admin/--no-admin", help="Grant or remove admin"),
) -> None:
    """Change a key's scope, credits or limits."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if pipeline is not None and workspace:
        console.print("[red]--pipeline and --workspace contradict each other[/red]")
        raise typer.Exit(2)
    if pipeline is not None:
        changes["pipeline"] = pipeline
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
    try:
        record = _accounts(_settings()).update_key(key_id, **changes)
    except APIError as exc:
        raise _refused(exc) from None
    console.print(json.dumps(record.public()))


SERVER_HELP = "Send the work to this running voxgate (http://host:8000) instead of loading models here"
KEY_HELP = "The API key for --server (default: VOXGATE_API_KEY)"


def _remote(server: str, key: str | None) -> Any:
    """The SDK client for --server: a base URL with or without /v1."""
    from voxgate.sdk import Client

    base = server.rstrip("/")
    return Client(api_key=key, base_url=base if base.endswith("/v1") else f"{base}/v1", max_retries=2)


def _emit(text: str, output: Path | None, err: Console) -> None:
    if output:
        output.write_text(text if text.endswith("\n") else text + "\n")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _remote_failed(err: Console, exc: Exception) -> typer.Exit:
    from voxgate.sdk.errors import APIStatusError
    from voxgate.sdk.errors import ConnectionError as APIConnectionError

    if isinstance(exc, APIStatusError):
        err.print(f"[red]the server refused: {exc.message} ({exc.status})[/red]")
        return typer.Exit(2 if (exc.status or 500) < 500 else 1)
    if isinstance(exc, APIConnectionError):
        err.print(f"[red]cannot reach the server: {exc}[/red]")
        return typer.Exit(1)
    raise exc


@app.command()
def transcribe(file: Path, model: str = typer.Option("whisper-base", help="Model id or alias"),
               format: str = typer.Option("text", "--format", help="json text srt vtt verbose_json diarized_json"),
               language: str | None = typer.Option(None, help="ISO-639-1 code (default: detect)"),
               words: bool = typer.Option(False, "--words", help="Word timestamps (verbose_json)"),
               diarize: bool = typer.Option(False, "--diarize", help="Label who speaks (speaker turns)"),
               redact: str | None = typer.Option(None, "--redact", help="Mask PII: 'all', or categories such as "
                                                 "'email,phone,person'"),
               server: str | None = typer.Option(None, "--server", help=SERVER_HELP),
               key: str | None = typer.Option(None, "--key", help=KEY_HELP),
               output: Path | None = typer.Option(None, "-o", "--output",
                                                     help="Write here (default: stdout)")) -> None:
    """Transcribe a file of any length: here, with a progress bar, or on a running server with --server."""
    err = Console(stderr=True)
    if server:
        _transcribe_remote(file, server, key, err, output, model=model, response_format=format, language=language,
                           timestamp_granularities=["word", "segment"] if words else None,
                           diarize=diarize or None, redact=redact)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from voxgate.app import transcription_service
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.transcription import Fields

    settings = _settings()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s %(message)s")
    catalog = Catalog.load(*settings.catalog_files)
    service = transcription_service(settings, catalog, ModelRegistry(settings.model_cache_dir))
    fields: dict[str, list[Any]] = {"model": [model], "response_format": [format], "language": [language or ""],
                                    "timestamp_granularities": ["word"] if words else []}
    if diarize:
        fields["diarize"] = [True]
    if redact:
        fields["redact"] = [redact]
    try:
        request = service.parse(Fields(fields), "transcribe")
        audio = service.load_audio(file)
    except APIError as exc:
        err.print(f"[red]{file}: {exc.message}[/red]" if exc.param == "file" else f"[red]{exc.message}[/red]")
        raise typer.Exit(1 if exc.param == "file" else 2) from None
    except OSError as exc:
        err.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(1) from None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"{file.name} ({audio.duration / 60:.1f} min)", total=max(audio.duration, 1e-3))
        service.engine(service.model(request))  # load before the clock starts
        transcript = service.transcribe(audio, request,
                                        on_progress=lambda done, total: bar.update(task, completed=done))
    body, _ = service.render(transcript, request)
    _emit(json.dumps(body, ensure_ascii=False, indent=2) if isinstance(body, dict) else body, output, err)


def _transcribe_remote(file: Path, server: str, key: str | None, err: Console, output: Path | None,
                       **fields: Any) -> None:
    if not file.is_file():
        err.print(f"[red]{file}: no such file[/red]")
        raise typer.Exit(1)
    try:
        with _remote(server, key) as client, err.status(f"transcribing {file.name} on {server}"):
            result = client.audio.transcriptions.create(file=file, **{k: v for k, v in fields.items()
                                                                      if v is not None})
    except Exception as exc:
        raise _remote_failed(err, exc) from None
    text = result if isinstance(result, str) else json.dumps(result.to_dict(), ensure_ascii=False, indent=2)
    _emit(text, output, err)


@app.command()
def speak(text: str, output: Path = typer.Option(..., "-o"), model: str = typer.Option("kokoro"),
          voice: str = typer.Option("alloy", help="A name, a native id, or a blend: 'af_bella(2)+af_sky(1)'"),
          format: str = typer.Option("mp3", "--format"), speed: float = 1.0,
          language: str | None = typer.Option(None, help="Speak in this language (default: the voice's)"),
          server: str | None = typer.Option(None, "--server", help=SERVER_HELP),
          key: str | None = typer.Option(None, "--key", help=KEY_HELP)) -> None:
    """Synthesise speech to a file: here, or on a running server with --server."""
    if server:
        err = Console(stderr=True)
        extra = {"language": language} if language else None
        try:
            with _remote(server, key) as client, client.audio.speech.with_streaming_response.create(
                    model=model, voice=voice, input=text, response_format=format, speed=speed,
                    extra_body=extra) as response:
                response.stream_to_file(output)
        except Exception as exc:
            raise _remote_failed(err, exc) from None
        console.print(f"wrote {output}")
        return
    from voxgate.app import speech_service
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    settings = _settings()
    catalog = Catalog.load(*settings.catalog_files)
    service = speech_service(settings, catalog, ModelRegistry(settings.model_cache_dir))
    try:
        utterance = service.prepare(model, text, voice, speed, format, language)
    except APIError as exc:
        raise _refused(exc) from None
    with output.open("wb") as fh:
        for chunk in service.stream(utterance):
            fh.write(chunk)
    console.print(f"wrote {output}")


@voices_app.command("list")
def voices_list(model: str | None = typer.Option(None, help="Only this speech model's voices")) -> None:
    """Every bundled voice of every speech model: its id, language and gender."""
    from voxgate.app import speech_service
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry

    settings = _settings()
    catalog = Catalog.load(*settings.catalog_files)
    service = speech_service(settings, catalog, ModelRegistry(settings.model_cache_dir))
    try:
        voices = service.voices(model)
    except APIError as exc:
        raise _refused(exc) from None
    names: dict[tuple[str, str], list[str]] = {}
    for spec in catalog.models.values():
        for name, native in spec.openai_voices.items():
            names.setdefault((spec.id, native), []).append(name)
    table = Table("model", "voice", "language", "gender", "OpenAI names")
    for v in voices:
        table.add_row(str(v["model"]), str(v["id"]), str(v["language"] or ""), str(v["gender"] or ""),
                      ", ".join(names.get((str(v["model"]), str(v["id"])), [])))
    console.print(table)


@voices_app.command("match")
def voices_match(file: Path, model: str | None = typer.Option(None, help="Speech model (VOXGATE_VOICE_MODEL)")) -> None:
    """Match a 3-30 s clip of a speaker to a blend of bundled voices, without a server; prints the blend
    (use it as `--voice`) and its similarity beside the default and the best single voice."""
    from voxgate.app import speech_service, voice_matcher
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.voicematch import SampleError, load_reference

    settings = _settings()
    catalog = Catalog.load(*settings.catalog_files)
    service = speech_service(settings, catalog, ModelRegistry(settings.model_cache_dir))
    try:
        spec = catalog.require(model or settings.voices.model, "speech")
        reference = load_reference(file.read_bytes(), settings.voices.min_sample_s, settings.voices.max_sample_s)
    except APIError as exc:
        raise _refused(exc) from None
    except (SampleError, OSError) as exc:
        Console(stderr=True).print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(1) from None
    with Console(stderr=True).status("matching (the first match also embeds every bundled voice)"):
        match = voice_matcher(settings, service).match(spec, reference.audio, 16000)
    table = Table("", "voice", "similarity")
    table.add_row("matched", match.voice, f"{match.similarity:.3f}")
    table.add_row("best single", match.best_single, f"{match.best_single_similarity:.3f}")
    table.add_row("default", match.default_voice, f"{match.default_similarity:.3f}")
    console.print(table)


def _pipelines() -> PipelineLibrary:
    from voxgate.app import open_pipelines

    return open_pipelines(_settings())


def _show_pipelines(pipelines: list[Pipeline]) -> None:
    table = Table("id", "stt", "llm", "tts", "voice", "language", "reply tokens")  # `show` has the prompt
    for p in pipelines:
        table.add_row(p.id, p.stt_model, p.llm_model, p.tts_model, p.voice, p.language or "(auto)",
                      str(p.max_reply_tokens))
    console.print(table)


def _pipeline_fields(**options: object) -> dict[str, object]:
    return {name: value for name, value in options.items() if value is not None}


_STT = typer.Option(None, "--stt-model", help="Transcription model (default: the default one)")
_LLM = typer.Option(None, "--llm-model", help="Chat model (default: the largest installed)")
_TTS = typer.Option(None, "--tts-model", help="Speech model (default: the default one)")
_VOICE = typer.Option(None, help="Voice of the TTS model (default alloy)")
_PROMPT = typer.Option(None, "--system-prompt", help="What the assistant is told before every turn")
_LANGUAGE = typer.Option(None, help="Language the user speaks and is answered in (default: detected)")
_TOKENS = typer.Option(None, "--max-reply-tokens", min=1, help="Longest reply, in tokens (default 120)")
_TEMPERATURE = typer.Option(None, min=0, max=2, help="The LLM's sampling temperature (default 0.7)")


@pipelines_app.command("create")
def pipelines_create(pipeline_id: str, stt_model: str | None = _STT, llm_model: str | None = _LLM,
                     tts_model: str | None = _TTS, voice: str | None = _VOICE, system_prompt: str | None = _PROMPT,
                     language: str | None = _LANGUAGE, max_reply_tokens: int | None = _TOKENS,
                     temperature: float | None = _TEMPERATURE) -> None:
    """Create a pipeline; only its id is needed."""
    fields = _pipeline_fields(id=pipeline_id, stt_model=stt_model, llm_model=llm_model, tts_model=tts_model,
                              voice=voice, system_prompt=system_prompt, language=language,
                              max_reply_tokens=max_reply_tokens, temperature=temperature)
    try:
        _show_pipelines([_pipelines().create(fields)])
    except APIError as exc:
        raise _refused(exc) from None


@pipelines_app.command("list")
def pipelines_list() -> None:
    """Every pipeline."""
    _show_pipelines(_pipelines().list_all())


@pipelines_app.command("show")
def pipelines_show(pipeline_id: str) -> None:
    """One pipeline, as JSON."""
    try:
        print(json.dumps(_pipelines().get(pipeline_id).public(), indent=2))
    except APIError as exc:
        raise _refused(exc) from None


@pipelines_app.command("set")
def pipelines_set(pipeline_id: str, stt_model: str | None = _STT, llm_model: str | None = _LLM,
                  tts_model: str | None = _TTS, voice: str | None = _VOICE, system_prompt: str | None = _PROMPT,
                  language: str | None = _LANGUAGE, max_reply_tokens: int | None = _TOKENS,
                  temperature: float | None = _TEMPERATURE) -> None:
    """Change a pipeline's fields (those given)."""
    fields = _pipeline_fields(stt_model=stt_model, llm_model=llm_model, tts_model=tts_model, voice=voice,
                              system_prompt=system_prompt, language=language, max_reply_tokens=max_reply_tokens,
                              temperature=temperature)
    try:
        _show_pipelines([_pipelines().update(pipeline_id, fields)])
    except APIError as exc:
        raise _refused(exc) from None


@pipelines_app.command("delete")
def pipelines_delete(pipeline_id: str) -> None:
    """Delete a pipeline and its conversations."""
    try:
        _pipelines().delete(pipeline_id)
    except APIError as exc:
        raise _refused(exc) from None
    console.print(f"deleted {pipeline_id}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
