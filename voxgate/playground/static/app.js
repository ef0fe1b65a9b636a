// voxgate playground: a framework-free page over the public API. The key lives in sessionStorage only.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_SLOT = "voxgate.key";
const PCM_RATE = 24000; // the API's pcm: 24 kHz mono s16le
let models = [];

// ---------------------------------------------------------------------------------------------- api calls
function key() { return sessionStorage.getItem(KEY_SLOT) || ""; }

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status; this.code = err.code || null; this.param = err.param || null;
  }
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  return new ApiError(response.status, body);
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${key()}` }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) throw await failure(response);
  return response;
}

function explain(err) {
  if (err.status === 401) return `The API key was refused: ${err.message}. Check the key and press "Use key".`;
  if (err.status === 403) return `This key may not do that: ${err.message}`;
  if (err.status === 429) return `Slow down: ${err.message}`;
  if (err.status === 402) return `Out of credits: ${err.message}`;
  return err.message || String(err);
}

function say(el, text, kind = "") { el.textContent = text; el.className = `status ${kind}`; }

// --------------------------------------------------------------------------------------------------- key
async function checkKey() {
  const status = $("key-status");
  if (!key()) { say(status, "Enter an API key (voxgate keys create) to start.", ""); return false; }
  try {
    const list = await (await api("/v1/models")).json();
    models = list.data;
    fillModels();
    say(status, `Key accepted: ${models.length} models available.`, "ok");
    loadVoices();
    loadPipelines();
    return true;
  } catch (err) {
    models = []; fillModels();
    say(status, explain(err), "error");
    return false;
  }
}

function options(select, items, chosen) {
  select.replaceChildren(...items.map(([value, label]) => {
    const opt = document.createElement("option");
    opt.value = value; opt.textContent = label || value; opt.selected = value === chosen;
    return opt;
  }));
}

function fillModels() {
  const of = (task) => models.filter((m) => m.voxgate && m.voxgate.task === task && !m.voxgate.alias_of);
  const stt = of("transcription").map((m) => [m.id]);
  options($("stt-model"), stt, (stt[0] || [])[0]);
  options($("live-model"), stt, (stt[0] || [])[0]);
  options($("tts-model"), of("speech").map((m) => [m.id]), (of("speech")[0] || {}).id);
}

async function loadVoices() {
  const model = $("tts-model").value;
  if (!model) return;
  const card = models.find((m) => m.id === model);
  const names = card ? Object.keys(card.voxgate.openai_voices || {}) : [];
  let voices = [];
  try { voices = (await (await api(`/v1/audio/voices?model=${encodeURIComponent(model)}`)).json()).data; }
  catch (err) { say($("tts-status"), explain(err), "error"); }
  const items = names.map((n) => [n, `${n} (OpenAI name)`]).concat(voices.map((v) => [
    v.id, [v.name || v.id, v.language, v.gender].filter(Boolean).join(" · ")]));
  options($("tts-voice"), items, items.length ? items[0][0] : "");
}

async function loadPipelines() {
  try {
    const list = (await (await api("/v1/pipelines")).json()).data;
    $("agent-pipelines").replaceChildren(...list.map((p) => Object.assign(document.createElement("option"),
      { value: p.id })));
    if (list.length && !$("agent-pipeline").value) $("agent-pipeline").value = list[0].id;
  } catch (_) { /* listing pipelines needs an admin key: the id is typed in */ }
}

// ---------------------------------------------------------------------------------------------- recording
function recorder(button, onDone) {
  let rec = null;
  button.addEventListener("click", async () => {
    if (rec) { rec.stop(); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (err) { alert(`No microphone: ${err.message}`); return; }
    const chunks = [];
    rec = new MediaRecorder(stream);
    rec.ondataavailable = (e) => chunks.push(e.data);
    rec.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      button.textContent = "Record"; rec = null;
      const blob = new Blob(chunks, { type: chunks[0] ? chunks[0].type : "audio/webm" });
      onDone(new File([blob], "recording.webm", { type: blob.type }));
    };
    rec.start();
    button.textContent = "Stop recording";
  });
}

function download(name, blob) {
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ------------------------------------------------------------------------------------------- transcribe
let sttFile = null;
let lastResult = null; // { body, text, format }

function clock(t, sep = ".") {
  const ms = Math.round(t * 1000);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(Math.floor(ms / 3600000))}:${p(Math.floor(ms / 60000) % 60)}:${p(Math.floor(ms / 1000) % 60)}` +
    `${sep}${p(ms % 1000, 3)}`;
}

function cues(segments, withSpeaker) {
  return segments.filter((s) => s.text.trim()).map((s) => ({
    start: s.start, end: Math.max(s.end, s.start + 0.001),
    text: (withSpeaker && s.speaker ? `${s.speaker}: ` : "") + s.text.trim(),
  }));
}

function toSrt(segments) {
  return cues(segments, true).map((c, i) => `${i + 1}\n${clock(c.start, ",")} --> ${clock(c.end, ",")}\n${c.text}\n`)
    .join("\n");
}

function toVtt(segments) {
  return "WEBVTT\n\n" + cues(segments, true).map((c) => `${clock(c.start)} --> ${clock(c.end)}\n${c.text}\n`)
    .join("\n");
}

function seek(t) { const audio = $("stt-audio"); audio.currentTime = t; audio.play().catch(() => {}); }

function showTranscript(body) {
  const out = $("stt-result");
  out.replaceChildren();
  const segments = body.segments || [];
  const words = body.words || [];
  if (!segments.length) { out.append(Object.assign(document.createElement("p"), { textContent: body.text })); return; }
  for (const seg of segments) {
    const p = document.createElement("p");
    p.className = "segment";
    const time = Object.assign(document.createElement("span"), { className: "time", textContent: clock(seg.start) });
    time.addEventListener("click", () => seek(seg.start));
    p.append(time);
    if (seg.speaker) p.append(Object.assign(document.createElement("span"),
      { className: "speaker", textContent: `${seg.speaker}:` }));
    const inside = words.filter((w) => w.start >= seg.start - 0.01 && w.start < seg.end + 0.01);
    if (inside.length) {
      for (const w of inside) {
        const span = Object.assign(document.createElement("span"), { className: "word", textContent: w.word });
        span.dataset.start = w.start; span.dataset.end = w.end;
        span.addEventListener("click", () => seek(w.start));
        p.append(span, " ");
      }
    } else {
      p.append(document.createTextNode(seg.text.trim()));
    }
    out.append(p);
  }
}

async function transcribe(event) {
  event.preventDefault();
  const status = $("stt-status");
  const file = $("stt-file").files[0] || sttFile;
  if (!file) { say(status, "Choose an audio file or record one first.", "error"); return; }
  const format = $("stt-format").value;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("model", $("stt-model").value);
  form.append("response_format", format);
  if ($("stt-language").value.trim()) form.append("language", $("stt-language").value.trim());
  if (format === "verbose_json") { form.append("timestamp_granularities[]", "word");
    form.append("timestamp_granularities[]", "segment"); }
  if ($("stt-diarize").checked) form.append("diarize", "true");
  if ($("stt-redact").checked) form.append("redact", "true");
  const audio = $("stt-audio");
  audio.src = URL.createObjectURL(file); audio.hidden = false;
  $("stt-run").disabled = true;
  say(status, "Transcribing…");
  const started = performance.now();
  try {
    const response = await api("/v1/audio/transcriptions", { method: "POST", body: form });
    const text = await response.text();
    const json = format.endsWith("json");
    const body = json ? JSON.parse(text) : null;
    lastResult = { body, text, format };
    $("stt-raw").hidden = json; $("stt-raw").textContent = json ? "" : text;
    if (json) showTranscript(body); else $("stt-result").replaceChildren();
    $("stt-downloads").hidden = false;
    $("stt-srt").disabled = $("stt-vtt").disabled = !(body && body.segments);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    say(status, `Done in ${seconds} s (request ${response.headers.get("x-request-id") || "?"}).`, "ok");
  } catch (err) {
    say(status, explain(err), "error");
  } finally {
    $("stt-run").disabled = false;
  }
}

// ------------------------------------------------------------------------------------------------ speak
function wav(pcm, rate) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (at, s) => [...s].forEach((c, i) => header.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF"); header.setUint32(4, 36 + pcm.byteLength, true); text(8, "WAVE"); text(12, "fmt ");
  header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
  header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true); header.setUint16(32, 2, true);
  header.setUint16(34, 16, true); text(36, "data"); header.setUint32(40, pcm.byteLength, true);
  return new Blob([header, pcm], { type: "audio/wav" });
}

// Plays 24 kHz pcm16 chunks as they arrive, each scheduled right after the one before.
class PcmPlayer {
  constructor() {
    try { this.ctx = new AudioContext({ sampleRate: PCM_RATE }); } catch (_) { this.ctx = null; }
    this.at = 0; this.carry = new Uint8Array(0);
  }
  push(bytes) {
    if (!this.ctx) return;
    const all = new Uint8Array(this.carry.length + bytes.length);
    all.set(this.carry); all.set(bytes, this.carry.length);
    const even = all.length - (all.length % 2);
    this.carry = all.slice(even);
    if (!even) return;
    const samples = new Int16Array(all.buffer.slice(0, even));
    const buffer = this.ctx.createBuffer(1, samples.length, PCM_RATE);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) data[i] = samples[i] / 32768;
    const node = this.ctx.createBufferSource();
    node.buffer = buffer; node.connect(this.ctx.destination);
    this.at = Math.max(this.at, this.ctx.currentTime + 0.05);
    node.start(this.at);
    this.at += buffer.duration;
  }
}

async function speak(event) {
  event.preventDefault();
  const status = $("tts-status");
  const streaming = $("tts-stream").checked;
  const format = streaming ? "pcm" : $("tts-format").value;
  const body = { model: $("tts-model").value, voice: $("tts-voice").value, input: $("tts-text").value,
                 speed: Number($("tts-speed").value), response_format: format };
  $("tts-run").disabled = true;
  say(status, "Synthesising…");
  const started = performance.now();
  try {
    const response = await api("/v1/audio/speech", { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" } });
    const player = streaming ? new PcmPlayer() : null;
    const reader = response.body.getReader();
    const parts = [];
    let first = null;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (first === null) { first = performance.now() - started;
        say(status, `First audio after ${Math.round(first)} ms…`); }
      parts.push(value);
      if (player) player.push(value);
    }
    const blob = streaming ? wav(await new Blob(parts).arrayBuffer(), PCM_RATE)
      : new Blob(parts, { type: response.headers.get("content-type") || "audio/mpeg" });
    const audio = $("tts-audio");
    audio.src = URL.createObjectURL(blob); audio.hidden = false;
    if (!player) audio.play().catch(() => {});
    const link = $("tts-download");
    link.href = audio.src; link.download = `speech.${streaming ? "wav" : format}`; link.hidden = false;
    link.textContent = `Download ${link.download} (${Math.round(blob.size / 1024)} KB)`;
    say(status, `Done: first audio after ${Math.round(first || 0)} ms, all in ${
      Math.round(performance.now() - started)} ms.`, "ok");
  } catch (err) {
    say(status, explain(err), "error");
  } finally {
    $("tts-run").disabled = false;
  }
}

// ------------------------------------------------------------------------------------------------- live
let live = null;

function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function liveLine(itemId) {
  let p = document.querySelector(`#live-result p[data-item="${itemId}"]`);
  if (!p) { p = Object.assign(document.createElement("p"), { className: "draft" }); p.dataset.item = itemId;
    $("live-result").append(p); }
  return p;
}

async function startLive() {
  const status = $("live-status");
  if (!key()) { say(status, "Enter an API key first.", "error"); return; }
  let media;
  try { media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } }); }
  catch (err) { say(status, `No microphone: ${err.message}`, "error"); return; }
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/v1/realtime?intent=transcription`,
    ["realtime", `openai-insecure-api-key.${key()}`]);
  const ctx = new AudioContext({ sampleRate: PCM_RATE });
  live = { ws, media, ctx, node: null };
  $("live-start").disabled = true; $("live-stop").disabled = false;
  ws.onerror = () => say(status, "The connection failed: check the key (a refused key closes it at once).", "error");
  ws.onclose = (e) => { if (live && live.ws === ws) stopLive(e.reason || ""); };
  ws.onmessage = (m) => {
    const event = JSON.parse(m.data);
    if (event.type === "conversation.item.input_audio_transcription.delta") {
      const p = liveLine(event.item_id); p.textContent += event.delta;
    } else if (event.type === "conversation.item.input_audio_transcription.completed") {
      const p = liveLine(event.item_id); p.textContent = event.transcript; p.className = "final";
    } else if (event.type === "input_audio_buffer.speech_started") {
      say(status, "Hearing speech…");
    } else if (event.type === "input_audio_buffer.speech_stopped") {
      say(status, "Listening.");
    } else if (event.type === "error") {
      say(status, `Error: ${event.error.message}`, "error");
    }
  };
  ws.onopen = async () => {
    const transcription = { model: $("live-model").value };
    if ($("live-language").value.trim()) transcription.language = $("live-language").value.trim();
    ws.send(JSON.stringify({ type: "session.update", session: { type: "transcription", audio: { input: {
      format: { type: "audio/pcm", rate: PCM_RATE }, transcription,
      turn_detection: { type: "server_vad", silence_duration_ms: 500 } } } } }));
    await ctx.audioWorklet.addModule("/static/playground/pcm-worklet.js");
    const source = ctx.createMediaStreamSource(media);
    const node = new AudioWorkletNode(ctx, "pcm16");
    node.port.onmessage = (e) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "input_audio_buffer.append",
        audio: b64(new Uint8Array(e.data)) }));
    };
    source.connect(node);
    live.node = node;
    say(status, "Listening.");
  };
}

function stopLive(reason = "") {
  if (!live) return;
  const { ws, media, ctx } = live;
  live = null;
  media.getTracks().forEach((t) => t.stop());
  ctx.close().catch(() => {});
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  $("live-start").disabled = false; $("live-stop").disabled = true;
  say($("live-status"), reason ? `Stopped: ${reason}` : "Stopped.", reason ? "error" : "");
}

// ------------------------------------------------------------------------------------------------ agent
let agentFile = null;

function sseEvents(onEvent) {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
      if (data && data !== "[DONE]") onEvent(JSON.parse(data));
    }
  };
}

async function ask() {
  const status = $("agent-status");
  const file = $("agent-file").files[0] || agentFile;
  const id = $("agent-pipeline").value.trim();
  if (!id) { say(status, "Enter a pipeline id (voxgate pipelines create, or POST /v1/pipelines).", "error"); return; }
  if (!file) { say(status, "Choose or record a question first.", "error"); return; }
  const form = new FormData();
  form.append("file", file, file.name); form.append("stream", "true"); form.append("response_format", "pcm");
  $("agent-heard").textContent = ""; $("agent-reply").textContent = "";
  $("agent-run").disabled = true;
  say(status, "Listening to the question…");
  const started = performance.now();
  const player = new PcmPlayer();
  const audio = [];
  try {
    const response = await api(`/v1/pipelines/${encodeURIComponent(id)}/run`, { method: "POST", body: form });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let firstAudio = null;
    const feed = sseEvents((event) => {
      if (event.type === "pipeline.transcript") $("agent-heard").textContent = event.text;
      else if (event.type === "pipeline.reply.delta") $("agent-reply").textContent += event.delta;
      else if (event.type === "pipeline.audio.delta") {
        const bytes = Uint8Array.from(atob(event.audio), (c) => c.charCodeAt(0));
        if (firstAudio === null) firstAudio = performance.now() - started;
        audio.push(bytes); player.push(bytes);
      } else if (event.type === "pipeline.error") say(status, event.error.message, "error");
      else if (event.type === "pipeline.done") say(status, `Answered: first audio after ${
        Math.round(firstAudio || 0)} ms.`, "ok");
    });
    for (;;) { const { done, value } = await reader.read(); if (done) break; feed(value); }
    const el = $("agent-audio");
    el.src = URL.createObjectURL(wav(await new Blob(audio).arrayBuffer(), PCM_RATE)); el.hidden = false;
  } catch (err) {
    say(status, explain(err), "error");
  } finally {
    $("agent-run").disabled = false;
  }
}

// ------------------------------------------------------------------------------------------------ usage
async function usage() {
  const status = $("usage-status");
  try {
    const credits = await (await api("/v1/credits")).json();
    $("usage-credits").textContent = credits.unlimited ? `Credits: unlimited (used ${credits.used}).`
      : `Credits: ${credits.balance} left, ${credits.used} used.`;
    const report = await (await api("/v1/usage")).json();
    $("usage-table").tBodies[0].replaceChildren(...report.data.map((r) => {
      const tr = document.createElement("tr");
      for (const v of [r.date, r.model, r.requests, `${r.units} ${r.unit}`]) tr.append(Object.assign(
        document.createElement("td"), { textContent: v }));
      return tr;
    }));
    say(status, `${report.total.requests} requests from ${report.start_date} to ${report.end_date}.`, "ok");
  } catch (err) {
    say(status, explain(err), "error");
  }
}

// ------------------------------------------------------------------------------------------------ wiring
function showTab(name) {
  document.querySelectorAll("nav [role=tab]").forEach((b) => b.setAttribute("aria-selected",
    String(b.dataset.tab === name)));
  document.querySelectorAll("main [role=tabpanel]").forEach((s) => { s.hidden = s.id !== `tab-${name}`; });
  if (name === "usage" && key()) usage();
}

document.querySelectorAll("nav [role=tab]").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_SLOT, $("key").value.trim());
  checkKey();
});
$("key-forget").addEventListener("click", () => { sessionStorage.removeItem(KEY_SLOT); $("key").value = "";
  checkKey(); });
$("stt-form").addEventListener("submit", transcribe);
$("stt-file").addEventListener("change", () => { sttFile = null; $("stt-recording").textContent = ""; });
recorder($("stt-record"), (f) => { sttFile = f; $("stt-file").value = "";
  $("stt-recording").textContent = `Recorded ${Math.round(f.size / 1024)} KB.`; });
$("stt-srt").addEventListener("click", () => download("transcript.srt",
  new Blob([toSrt(lastResult.body.segments)], { type: "text/plain" })));
$("stt-vtt").addEventListener("click", () => download("transcript.vtt",
  new Blob([toVtt(lastResult.body.segments)], { type: "text/vtt" })));
$("stt-body").addEventListener("click", () => download(`transcript.${
  lastResult.format.endsWith("json") ? "json" : lastResult.format === "text" ? "txt" : lastResult.format}`,
  new Blob([lastResult.text], { type: "text/plain" })));
$("stt-audio").addEventListener("timeupdate", () => {
  const t = $("stt-audio").currentTime;
  document.querySelectorAll("#stt-result .word").forEach((w) => w.classList.toggle("playing",
    t >= Number(w.dataset.start) && t < Number(w.dataset.end)));
});
$("tts-form").addEventListener("submit", speak);
$("tts-model").addEventListener("change", loadVoices);
// streamed playback is pcm (played as it arrives, kept as WAV); the format picker applies when not streaming
const streamToggle = () => { $("tts-format").disabled = $("tts-stream").checked; };
$("tts-stream").addEventListener("change", streamToggle);
streamToggle();
$("tts-speed").addEventListener("input", () => { $("tts-speed-value").textContent =
  Number($("tts-speed").value).toFixed(2); });
$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", () => stopLive());
$("agent-run").addEventListener("click", ask);
recorder($("agent-record"), (f) => { agentFile = f; $("agent-file").value = ""; });
$("usage-refresh").addEventListener("click", usage);

$("key").value = key();
checkKey();
