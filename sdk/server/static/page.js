// voxport serve's page: speak through POST /v1/audio/speech with stream_format "sse", play each audio delta
// with Web Audio as it arrives (no wait for the whole answer), and highlight each word while it is heard,
// from the server's speech.word events (seconds from the start of the stream).
"use strict";

const $ = (id) => document.getElementById(id);
const LEAD = 0.05; // seconds between the first delta's arrival and its playback: room for the next delta

// What the page did, for people reading the console and for tests/test_server_page.py.
const stats = (window.voxport = { requests: 0 });
let run = null; // the utterance playing now: {ctx time of stream second 0, words, sources, ...}
let context = null;
let output = null; // every source plays through this gain node; an analyser watches it for the level meter
let analyser = null;

function headers() {
  const key = $("key").value.trim();
  return key ? { "Content-Type": "application/json", Authorization: `Bearer ${key}` }
             : { "Content-Type": "application/json" };
}

// A refusal's reason: voxport answers {"error": {"message": ...}} (401 wrong key, 404 voice, 400 bad field).
async function checked(response) {
  if (response.ok) return response;
  let reason = response.statusText;
  try { reason = (await response.json()).error.message; } catch (_) { /* not JSON: keep the status text */ }
  throw new Error(`${response.status}: ${reason}`);
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
  stats.error = error ? $("error").textContent : null;
}

async function loadVoices() {
  try {
    const voices = await (await checked(await fetch("voices", { headers: headers() }))).json();
    const chosen = $("voice").value;
    $("voice").replaceChildren(...Object.keys(voices).map((name) => new Option(name, name)));
    if (chosen in voices) $("voice").value = chosen;
    stats.voices = voices;
    showSpeakers();
    showError(null);
  } catch (error) {
    showError(error.message.startsWith("401") ? `${error.message} — type the server's API key` : error);
  }
}

// Named speakers by name; a multi-speaker voice without names by id.
function showSpeakers() {
  const voice = (stats.voices || {})[$("voice").value] || { speakers: [], num_speakers: 1 };
  const byName = voice.speakers.length > 0;
  const choices = byName ? voice.speakers : [...Array(voice.num_speakers).keys()].map(String);
  if (choices.length < 2) choices.length = 0; // one speaker: nothing to choose
  $("speaker").replaceChildren(...choices.map((name) => new Option(name, name)));
  $("speaker").disabled = choices.length < 2;
  $("speaker").dataset.by = byName ? "speaker" : "speaker_id";
}

function audioGraph() {
  if (!context) {
    context = new AudioContext();
    output = context.createGain();
    analyser = context.createAnalyser();
    output.connect(context.destination);
    output.connect(analyser);
    setInterval(tick, 20);
  }
  return context;
}

// Server-Sent Events from a streamed response: blocks of "data:" lines, each block ended by a blank line.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, end).split("\n").filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart()).join("\n");
      buffer = buffer.slice(end + 2);
      if (data) yield JSON.parse(data);
    }
  }
}

// base64 16-bit little-endian PCM -> float samples in [-1, 1).
function samplesOf(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

function play(samples, rate) {
  const buffer = context.createBuffer(1, samples.length, rate);
  buffer.copyToChannel(samples, 0);
  if (run.zero === null) {
    run.zero = context.currentTime + LEAD;
    stats.firstAudioMs = performance.now() - run.started;
    $("ttfa").textContent = `${stats.firstAudioMs.toFixed(0)} ms`;
  }
  // A delta that arrives after its time (the server fell behind): play it now and let everything after it,
  // highlighting included, slip by as much.
  const late = context.currentTime - (run.zero + run.seconds);
  if (late > 0) { run.zero += late; stats.lateSeconds += late; }
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(output);
  source.start(run.zero + run.seconds);
  run.sources.push(source);
  run.seconds += buffer.duration;
  stats.samples += samples.length;
}

function addWord(event) {
  const span = document.createElement("span");
  span.textContent = event.word;
  $("words").append(span, " ");
  run.words.push({ ...event, span });
}

// Every 20 ms: the level, and the words the audio clock has reached.
function tick() {
  const level = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(level);
  const peak = level.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  $("level").value = peak;
  stats.peak = Math.max(stats.peak || 0, peak);
  if (!run || run.zero === null) return;
  const t = context.currentTime - run.zero;
  // Words start in order: each one reached since the last check becomes the current word in turn, so a word
  // shorter than a check is still marked; in a pause (between sentences, an SSML break) none is current.
  while (run.next < run.words.length && run.words[run.next].start <= t) {
    if (run.current >= 0) run.words[run.current].span.className = "spoken";
    run.current = run.next++;
    run.words[run.current].span.className = "current";
    stats.highlights.push({ index: run.current, word: run.words[run.current].word, audioTime: t,
                            wallMs: performance.now() });
  }
  if (run.current >= 0 && t >= run.words[run.current].end) {
    run.words[run.current].span.className = "spoken";
    run.current = -1;
  }
  if (run.done && t > run.seconds) { stats.finished = true; run.done = false; }
}

function stop() {
  if (!run) return;
  run.abort.abort();
  for (const source of run.sources) source.stop();
  run = null;
}

async function speak(event) {
  event.preventDefault();
  stop();
  showError(null);
  const ctx = audioGraph();
  await ctx.resume(); // a click allows audio; the resume makes it so
  Object.assign(stats, { samples: 0, lateSeconds: 0, highlights: [], finished: false, firstAudioMs: null, rtf: null });
  stats.requests += 1;
  $("words").replaceChildren();
  for (const id of ["ttfa", "rtf", "audio-seconds"]) $(id).textContent = "…";
  const mine = (run = { zero: null, seconds: 0, words: [], sources: [], current: -1, next: 0, done: false,
                        started: performance.now(), abort: new AbortController() });
  const body = { input: $("text").value, voice: $("voice").value || undefined, speed: Number($("speed").value),
                 response_format: "pcm", stream_format: "sse",
                 text_format: document.querySelector("input[name=format]:checked").value };
  if (!$("speaker").disabled) body[$("speaker").dataset.by] = $("speaker").value;
  try {
    const response = await checked(await fetch("v1/audio/speech", { method: "POST", headers: headers(),
                                                                    body: JSON.stringify(body), signal: mine.abort.signal }));
    const rate = Number(response.headers.get("X-Voxport-Sample-Rate"));
    for await (const e of events(response)) {
      if (run !== mine) break; // stopped, or another Speak took over
      if (e.type === "speech.audio.delta") play(samplesOf(e.audio), rate);
      else if (e.type === "speech.word") addWord(e);
      else if (e.type === "error") throw new Error(e.error.message);
      else if (e.type === "speech.audio.done") {
        // Real-time factor as this page saw it: seconds until the last audio arrived per second of audio.
        stats.rtf = (performance.now() - mine.started) / 1000 / e.audio_seconds;
        $("rtf").textContent = stats.rtf.toFixed(3);
        $("audio-seconds").textContent = `${e.audio_seconds.toFixed(2)} s`;
        mine.done = true;
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
    for (const id of ["ttfa", "rtf", "audio-seconds"]) if ($(id).textContent === "…") $(id).textContent = "–";
  }
}

$("form").addEventListener("submit", speak);
$("stop").addEventListener("click", stop);
$("key").addEventListener("change", loadVoices);
$("voice").addEventListener("change", showSpeakers);
$("speed").addEventListener("input", () => { $("speed-value").textContent = Number($("speed").value).toFixed(2); });
loadVoices();
