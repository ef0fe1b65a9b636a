"""Every endpoint as data: a `Call` says what to send and how to read the answer.

The sync and async clients share these builders, so both send identical requests and return identical
types; they differ only in how they wait."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Union
from urllib.parse import quote

import httpx

from voxgate.sdk._files import FileSource, FileTypes, data_url, file_source
from voxgate.sdk.types import (
    ChatCompletion,
    ChatCompletionChunk,
    CreateEmbeddingResponse,
    Job,
    Model,
    Page,
    PipelineAudioDeltaEvent,
    PipelineDoneEvent,
    PipelineEvent,
    PipelineReplyDeltaEvent,
    PipelineRun,
    PipelineTranscriptEvent,
    Response,
    ResponseEvent,
    Text,
    Transcription,
    TranscriptionDiarized,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
    Voice,
    VoiceDeleted,
    WebhookDefault,
    WebhookDelivery,
    WebhookSecret,
)

T = TypeVar("T")
TimeoutTypes = Union[float, httpx.Timeout, None]
TranscriptionResult = Union[Transcription, TranscriptionVerbose, TranscriptionDiarized, Translation,
                            TranslationVerbose, Text]
StreamEvent = Union[TranscriptionTextDeltaEvent, TranscriptionTextSegmentEvent, TranscriptionTextDoneEvent,
                    dict[str, Any]]

TEXT_FORMATS = ("text", "srt", "vtt")
UNSET: Any = object()


def new_idempotency_key() -> str:
    return f"vgsdk-{uuid.uuid4().hex}"


@dataclass
class Options:
    """Per-call knobs every method accepts."""

    extra_headers: Mapping[str, str] | None = None
    extra_body: Mapping[str, Any] | None = None
    timeout: TimeoutTypes | object = UNSET
    idempotency_key: str | None = None



def options(extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
            timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None) -> Options:
    """The per-call knobs from a method's keyword arguments (every resource's methods take the same ones)."""
    return Options(extra_headers=extra_headers, extra_body=extra_body, timeout=timeout,
                   idempotency_key=idempotency_key)


@dataclass
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    form: list[tuple[str, str]] | None = None
    file: FileSource | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: Callable[[dict[str, Any]], Any] | None = None
    """Set for SSE calls: how to read each event; the response is then returned as a stream."""
    timeout: TimeoutTypes | object = UNSET
    idempotency_key: str | None = None
    file_field: str = "file"  # the multipart part the file goes in
    _opened: list[Any] = field(default_factory=list, repr=False)

    @property
    def replay_safe(self) -> bool:
        return self.method in ("GET", "HEAD", "DELETE") or self.idempotency_key is not None

    def build(self, client: httpx.Client | httpx.AsyncClient, base_url: str,
              default_headers: Mapping[str, str]) -> httpx.Request:
        """A fresh request per attempt (a file upload is re-opened from its start)."""
        headers = {**default_headers, **self.headers}
        if self.idempotency_key:
            headers["Idempotency-Key"] = self.idempotency_key
        kwargs: dict[str, Any] = {"headers": headers, "params": self.params}
        if self.timeout is not UNSET:
            kwargs["timeout"] = self.timeout
        if self.file is not None:
            stream = self.file.open()
            self._opened.append(stream)
            files = {self.file_field: (self.file.filename, stream, self.file.content_type)}
            kwargs.update(data=_form_dict(self.form or []), files=files)
        elif self.form is not None:
            kwargs["data"] = _form_dict(self.form)
        elif self.json is not None:
            kwargs["json"] = self.json
        return client.build_request(self.method, base_url + self.path, **kwargs)

    def close_files(self) -> None:
        """Close what `build` opened, once the request body has been sent."""
        while self._opened:
            self._opened.pop().close()


def _form_dict(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            current = out[name]
            out[name] = (current if isinstance(current, list) else [current]) + [value]
        else:
            out[name] = value
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten_form(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The openai SDK's multipart flattening: lists -> repeated `name[]`, dicts -> `name[key]`,
    booleans -> "true"/"false", None left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend((f"{name}[{k}]", _scalar(v)) for k, v in value.items() if v is not None)
        elif isinstance(value, (list, tuple)):
            pairs.extend((f"{name}[]", _scalar(v)) for v in value)
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _apply(call: Call[T], options: Options, post: bool) -> Call[T]:
    if options.extra_headers:
        call.headers.update(options.extra_headers)
    call.timeout = options.timeout
    if post:
        call.idempotency_key = options.idempotency_key or new_idempotency_key()
    return call


def _request_id(response: httpx.Response) -> str | None:
    value = response.headers.get("x-request-id")
    return str(value) if value is not None else None


# ---- speech -------------------------------------------------------------------------------------------

def speech_call(*, model: str, input: str, voice: str | Mapping[str, str], instructions: str | None,
                response_format: str | None, speed: float | None, stream_format: str | None,
                reference_audio: FileTypes | str | None, options: Options) -> Call[httpx.Response]:
    body: dict[str, Any] = {"model": model, "input": input,
                            "voice": dict(voice) if isinstance(voice, Mapping) else voice}
    for name, value in (("instructions", instructions), ("response_format", response_format), ("speed", speed),
                        ("stream_format", stream_format)):
        if value is not None:
            body[name] = value
    if reference_audio is not None:
        body["reference_audio"] = data_url(reference_audio)
    body.update(options.extra_body or {})
    call: Call[httpx.Response] = Call("POST", "audio/speech", parse=lambda r: r, json=body,
                                      headers={"Accept": "application/octet-stream"})
    return _apply(call, options, post=True)


# ---- transcription and translation ----------------------------------------------------------------------

def parse_transcription(task: str, response_format: str | None) -> Callable[[httpx.Response], TranscriptionResult]:
    def parse(response: httpx.Response) -> TranscriptionResult:
        rid = _request_id(response)
        content_type = response.headers.get("content-type", "")
        if response_format in TEXT_FORMATS or not content_type.startswith("application/json"):
            return Text(response.text, rid)
        data = response.json()
        kind = data.get("task", task)
        if response_format == "diarized_json" or (response_format is None and _is_diarized(data)):
            return TranscriptionDiarized.from_dict(data, rid)
        if response_format == "verbose_json" or (response_format is None and "segments" in data):
            cls = TranslationVerbose if kind == "translate" else TranscriptionVerbose
            return cls.from_dict(data, rid)
        return (Translation if task == "translate" else Transcription).from_dict(data, rid)

    return parse


def _is_diarized(data: dict[str, Any]) -> bool:
    segments = data.get("segments") or []
    return bool(segments) and isinstance(segments[0], dict) and segments[0].get("type") == "transcript.text.segment"


def stream_event(data: dict[str, Any]) -> StreamEvent:
    kind = data.get("type")
    if kind == "transcript.text.delta":
        return TranscriptionTextDeltaEvent.from_dict(data)
    if kind == "transcript.text.segment":
        return TranscriptionTextSegmentEvent.from_dict(data)
    if kind == "transcript.text.done":
        return TranscriptionTextDoneEvent.from_dict(data)
    return data


def transcription_call(*, task: str, path: str, file: FileTypes, form: Mapping[str, Any],
                       response_format: str | None, stream: bool, options: Options,
                       parse: Callable[[httpx.Response], Any] | None = None) -> Call[Any]:
    fields = dict(form)
    fields["response_format"] = response_format
    if stream:
        fields["stream"] = True
    fields.update(options.extra_body or {})
    call: Call[Any] = Call("POST", path, parse=parse or parse_transcription(task, response_format),
                           form=flatten_form(fields), file=file_source(file),
                           events=stream_event if stream else None)
    return _apply(call, options, post=True)


def transcription_form(*, model: str, language: str | None = None, prompt: str | None = None,
                       temperature: float | None = None, timestamp_granularities: Sequence[str] | None = None,
                       include: Sequence[str] | None = None, chunking_strategy: str | Mapping[str, Any] | None = None,
                       known_speaker_names: Sequence[str] | None = None,
                       known_speaker_references: Sequence[FileTypes | str] | None = None,
                       diarize: bool | None = None, redact: bool | str | Sequence[str] | None = None,
                       languages: Sequence[str] | None = None, keywords: Sequence[str] | None = None,
                       ) -> dict[str, Any]:
    """The multipart fields of a transcription: OpenAI's, then voxgate's extras."""
    refs = [data_url(r) for r in known_speaker_references] if known_speaker_references is not None else None
    if redact is not None and not isinstance(redact, (bool, str)):
        redact = ",".join(redact)
    return {
        "model": model, "language": language, "prompt": prompt, "temperature": temperature,
        "timestamp_granularities": list(timestamp_granularities) if timestamp_granularities is not None else None,
        "include": list(include) if include is not None else None,
        "chunking_strategy": chunking_strategy,
        "known_speaker_names": list(known_speaker_names) if known_speaker_names is not None else None,
        "known_speaker_references": refs, "diarize": diarize, "redact": redact,
        "languages": list(languages) if languages is not None else None,
        "keywords": list(keywords) if keywords is not None else None,
    }


# ---- models --------------------------------------------------------------------------------------------

def _page(item: Callable[[dict[str, Any], str | None], T]) -> Callable[[httpx.Response], Page[T]]:
    def parse(response: httpx.Response) -> Page[T]:
        body = response.json()
        rid = _request_id(response)
        return Page(data=[item(d, rid) for d in body.get("data", [])], object=body.get("object", "list"),
                    has_more=bool(body.get("has_more", False)), request_id=rid)

    return parse


def _one(cls: Any) -> Callable[[httpx.Response], Any]:
    return lambda response: cls.from_dict(response.json(), _request_id(response))


def models_list_call(options: Options) -> Call[Page[Model]]:
    return _apply(Call("GET", "models", parse=_page(Model.from_dict)), options, post=False)


def model_retrieve_call(model: str, options: Options) -> Call[Model]:
    return _apply(Call("GET", f"models/{quote(model, safe='')}", parse=_one(Model)), options, post=False)


# ---- voices --------------------------------------------------------------------------------------------

def _voice_path(voice_id: str) -> str:
    if not voice_id:
        raise ValueError("voice_id must not be empty")
    return f"audio/voices/{quote(voice_id, safe='')}"


def voices_list_call(model: str | None, options: Options) -> Call[Page[Voice]]:
    params = {"model": model} if model else None
    return _apply(Call("GET", "audio/voices", parse=_page(Voice.from_dict), params=params), options, post=False)


def voice_create_call(*, name: str, consent: str, audio_sample: FileTypes, options: Options) -> Call[Voice]:
    fields: dict[str, Any] = {"name": name, "consent": consent, "type": "audio_sample", **(options.extra_body or {})}
    call = Call("POST", "audio/voices", parse=_one(Voice), form=flatten_form(fields), file=file_source(audio_sample),
                file_field="audio_sample")
    return _apply(call, options, post=True)


def voice_retrieve_call(voice_id: str, options: Options) -> Call[Voice]:
    return _apply(Call("GET", _voice_path(voice_id), parse=_one(Voice)), options, post=False)


def voice_delete_call(voice_id: str, options: Options) -> Call[VoiceDeleted]:
    return _apply(Call("DELETE", _voice_path(voice_id), parse=_one(VoiceDeleted)), options, post=False)


# ---- jobs ----------------------------------------------------------------------------------------------

def _job_path(job_id: str, suffix: str = "") -> str:
    if not job_id:
        raise ValueError("job_id must not be empty")
    return f"jobs/{quote(job_id, safe='')}{suffix}"


def job_create_call(*, file: FileTypes, form: Mapping[str, Any], response_format: str | None,
                    webhook_url: str | None, options: Options) -> Call[Job]:
    fields = dict(form)
    fields.update({"async": True, "webhook_url": webhook_url})
    return transcription_call(task="transcribe", path="audio/transcriptions", file=file, form=fields,
                              response_format=response_format, stream=False, options=options, parse=_one(Job))


def job_retrieve_call(job_id: str, options: Options) -> Call[Job]:
    return _apply(Call("GET", _job_path(job_id), parse=_one(Job)), options, post=False)


def job_list_call(*, limit: int | None, status: str | None, options: Options) -> Call[Page[Job]]:
    params = {k: v for k, v in (("limit", limit), ("status", status)) if v is not None}
    return _apply(Call("GET", "jobs", parse=_page(Job.from_dict), params=params), options, post=False)


def job_cancel_call(job_id: str, options: Options) -> Call[Job]:
    return _apply(Call("POST", _job_path(job_id, "/cancel"), parse=_one(Job)), options, post=True)


def job_result_call(job_id: str, response_format: str | None, options: Options) -> Call[TranscriptionResult]:
    params = {"response_format": response_format} if response_format else None
    call: Call[TranscriptionResult] = Call("GET", _job_path(job_id, "/result"),
                                           parse=parse_transcription("transcribe", response_format), params=params)
    return _apply(call, options, post=False)


# ---- webhooks ------------------------------------------------------------------------------------------

def webhook_secret_call(options: Options) -> Call[WebhookSecret]:
    return _apply(Call("GET", "webhooks/secret", parse=_one(WebhookSecret)), options, post=False)


def webhook_secret_rotate_call(options: Options) -> Call[WebhookSecret]:
    return _apply(Call("POST", "webhooks/secret/rotate", parse=_one(WebhookSecret)), options, post=True)


def webhook_default_get_call(options: Options) -> Call[WebhookDefault]:
    return _apply(Call("GET", "webhooks/default", parse=_one(WebhookDefault)), options, post=False)


def webhook_default_set_call(url: str | None, options: Options) -> Call[WebhookDefault]:
    call = Call("POST", "webhooks/default", parse=_one(WebhookDefault), json={"url": url})
    return _apply(call, options, post=True)


def deliveries_list_call(*, job_id: str | None, status: str | None, limit: int | None,
                         options: Options) -> Call[Page[WebhookDelivery]]:
    params = {k: v for k, v in (("job_id", job_id), ("status", status), ("limit", limit)) if v is not None}
    return _apply(Call("GET", "webhooks/deliveries", parse=_page(WebhookDelivery.from_dict), params=params),
                  options, post=False)


def delivery_resend_call(delivery_id: str, options: Options) -> Call[WebhookDelivery]:
    path = f"webhooks/deliveries/{quote(delivery_id, safe='')}/resend"
    return _apply(Call("POST", path, parse=_one(WebhookDelivery)), options, post=True)


# ---- chat and voice pipelines ----------------------------------------------------------------------------------

def chat_call(*, body: Mapping[str, Any], options: Options) -> Call[Any]:
    payload = {k: v for k, v in body.items() if v is not None}
    payload.update(options.extra_body or {})
    stream = bool(payload.get("stream"))
    call: Call[Any] = Call("POST", "chat/completions", parse=_one(ChatCompletion), json=payload,
                           events=(lambda data: ChatCompletionChunk.from_dict(data)) if stream else None)
    return _apply(call, options, post=True)


_PIPELINE_EVENTS: dict[str, Any] = {"pipeline.transcript": PipelineTranscriptEvent,
                                    "pipeline.reply.delta": PipelineReplyDeltaEvent,
                                    "pipeline.audio.delta": PipelineAudioDeltaEvent, "pipeline.done": PipelineDoneEvent}


def pipeline_event(data: dict[str, Any]) -> PipelineEvent:
    cls = _PIPELINE_EVENTS.get(str(data.get("type")))
    return cls.from_dict(data) if cls is not None else data


def pipeline_run_call(*, pipeline_id: str, file: FileTypes, conversation_id: str | None,
                      response_format: str | None, stream: bool, options: Options) -> Call[Any]:
    fields = {"conversation_id": conversation_id, "response_format": response_format, "stream": stream,
              **(options.extra_body or {})}
    call: Call[Any] = Call("POST", f"pipelines/{quote(pipeline_id, safe='')}/run", parse=_one(PipelineRun),
                           form=flatten_form(fields), file=file_source(file),
                           events=pipeline_event if stream else None)
    return _apply(call, options, post=True)


def embeddings_call(*, body: Mapping[str, Any], options: Options) -> Call[CreateEmbeddingResponse]:
    payload = {k: v for k, v in body.items() if v is not None}
    payload.update(options.extra_body or {})
    call: Call[CreateEmbeddingResponse] = Call("POST", "embeddings", parse=_one(CreateEmbeddingResponse),
                                               json=payload)
    return _apply(call, options, post=True)


def responses_call(*, body: Mapping[str, Any], options: Options) -> Call[Any]:
    payload = {k: v for k, v in body.items() if v is not None}
    payload.update(options.extra_body or {})
    call: Call[Any] = Call("POST", "responses", parse=_one(Response), json=payload,
                           events=ResponseEvent.from_dict if payload.get("stream") else None)
    return _apply(call, options, post=True)
