"""The Wyoming protocol (what Home Assistant speaks), on the `wyoming` package's server and framing.

One-shot `synthesize` answers audio-start / audio-chunk... / audio-stop. Streaming synthesis
(`synthesize-start`, `synthesize-chunk`..., `synthesize-stop`) feeds the text into one `Voice.stream` as
it arrives: each sentence is spoken as soon as it is complete, answered as its own audio-start ... audio-stop,
its audio leaving in sub-sentence chunks; `synthesize-stopped` ends it. Clients that stream also send the
whole text as a plain `synthesize` for older servers; while a stream is open that event is ignored.
While the server shuts down, a new request is answered with an `error` event of code `shutting-down`, as
is one still running when the drain time is up.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from voxport.pipeline.streaming import AudioChunk as VoxChunk
from voxport.server.registry import (
    Busy,
    ChunkStream,
    ShuttingDown,
    TextFeed,
    UnknownVoice,
    VoiceLoadError,
    VoiceRegistry,
    pcm16,
)
from voxport.server.voice_names import VoiceNames
from voxport.synthesis import SynthesisConfig

log = logging.getLogger(__name__)
ERROR_CODES = {Busy: "busy", UnknownVoice: "unknown-voice", TimeoutError: "timeout", ShuttingDown: "shutting-down",
               VoiceLoadError: "load-failed"}
FINISH_SECONDS = 5.0  # on shutdown, the longest wait for connections to finish writing their answers
ATTRIBUTION = Attribution(name="voxport", url="https://github.com/voxport/voxport")


@dataclass(frozen=True)
class WyomingOptions:
    seed: int | None = None  # a fixed seed makes answers reproducible (tests compare with Voice.synthesize)
    max_chars: int = 10_000
    text_timeout: float = 30.0  # longest wait for the next synthesize-chunk of a stream
    request_timeout: float | None = 120.0  # seconds per one-shot synthesize, queueing included
    voice_map: tuple[tuple[str, str], ...] = ()  # --voice-map NAME=VOICE pairs (voxport.server.voice_names)


_SPEECH_EVENTS = {"synthesize", "synthesize-start", "synthesize-chunk", "synthesize-stop"}


def _check_fields(event: Event) -> None:
    """Refuse (ValueError: a `bad-request` error event) what wyoming's from_event would choke on or misread:
    a missing or non-string text (a list would be spoken as text pieces), a voice that is no object, voice
    fields of the wrong type."""
    data = event.data
    if not isinstance(data, dict):
        raise ValueError(f"{event.type}: its data must be an object")
    if event.type in ("synthesize", "synthesize-chunk") and not isinstance(data.get("text"), str):
        raise ValueError(f"{event.type} needs 'text', a string")
    voice = data.get("voice")
    if voice is None:
        return
    if not isinstance(voice, dict):
        raise ValueError(f"{event.type}: 'voice' must be an object")
    for key in ("name", "language"):
        if voice.get(key) is not None and not isinstance(voice[key], str):
            raise ValueError(f"{event.type}: voice {key!r} must be a string")
    speaker = voice.get("speaker")
    if speaker is not None and (isinstance(speaker, bool) or not isinstance(speaker, (str, int))):
        raise ValueError(f"{event.type}: voice 'speaker' must be a name or an id")


def info_event(registry: VoiceRegistry, names: VoiceNames | None = None) -> Event:
    """Every configured voice, and each speaker of a family whose speakers are voices (Kokoro's packs)."""
    voices = []
    for facts in (names or VoiceNames(registry)).describe():
        speakers = [TtsVoiceSpeaker(name=s) for s in facts["speakers"]] or None
        voices.append(TtsVoice(
            name=facts["name"], description=facts["model"], installed=True, version=None,
            attribution=Attribution(name=facts["license"] or "unknown", url=facts["origin"] or ""),
            languages=facts["languages"], speakers=speakers,
        ))
    program = TtsProgram(name="voxport", description="voxport text to speech", attribution=ATTRIBUTION,
                         installed=True, version=None, voices=voices, supports_synthesize_streaming=True)
    return Info(tts=[program]).event()


class VoxportEventHandler(AsyncEventHandler):
    """One client connection. Events are handled in order; a stream's audio is written by a task of its own
    so that synthesize-chunk events keep arriving while earlier sentences are spoken."""

    def __init__(self, registry: VoiceRegistry, options: WyomingOptions, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registry = registry
        self.options = options
        self.names = VoiceNames(registry, dict(options.voice_map))
        self._feed: TextFeed | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._chars = 0
        self._gone = False
        self._writing = False  # a one-shot answer, or a stream's last events, being written

    async def handle_event(self, event: Event) -> bool:
        try:
            return await self._handle(event)
        except (Busy, UnknownVoice, ShuttingDown, VoiceLoadError, ValueError, TypeError, TimeoutError) as exc:
            await self._error(exc)
            return True
        except ConnectionError:  # the client left mid-answer; its worker was freed on the way out
            return False

    async def _handle(self, event: Event) -> bool:
        if event.type in _SPEECH_EVENTS:
            _check_fields(event)
        if Describe.is_type(event.type):
            await self.write_event(info_event(self.registry, self.names))
        elif SynthesizeStart.is_type(event.type):
            await self._start_stream(SynthesizeStart.from_event(event))
        elif SynthesizeChunk.is_type(event.type):
            self._feed_text(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type):
            await self._stop_stream()
        elif Synthesize.is_type(event.type) and self._feed is None:
            # Inside a stream, a plain synthesize repeats the streamed text for older servers: ignored.
            await self._synthesize(Synthesize.from_event(event))
        return True

    def _config(self, voice: Any) -> tuple[str, SynthesisConfig]:
        spec = None
        if voice is not None and not voice.name and voice.language:
            name = self.registry.for_language(voice.language)
        else:  # a voice's name, or one of its speakers (a Kokoro pack): voxport.server.voice_names
            name, spec = self.names.resolve(voice.name if voice is not None else None)
        speaker = voice.speaker if voice is not None and voice.speaker is not None else spec
        return name, SynthesisConfig(seed=self.options.seed, speaker=speaker)

    async def _synthesize(self, request: Synthesize) -> None:
        if len(request.text) > self.options.max_chars:
            raise ValueError(f"text is {len(request.text)} characters, the limit is {self.options.max_chars}")
        name, config = self._config(request.voice)
        text_format = "ssml" if str(request.text_format or "text").endswith("ssml") else "text"
        chunks = await self.registry.open_stream(name, request.text, config, text_format=text_format,
                                                 timeout=self.options.request_timeout)
        self._writing = True
        try:
            await self.write_event(self._audio_start(chunks))
            async for chunk in chunks:
                await self._write_audio(chunks, chunk)
            await self.write_event(AudioStop().event())
        finally:
            self._writing = False
            await chunks.aclose()  # the client gone mid-answer: free the worker now

    async def _start_stream(self, request: SynthesizeStart) -> None:
        if self._feed is not None:
            raise ValueError("synthesize-start while a streaming synthesis is already open")
        name, config = self._config(request.voice)
        feed = TextFeed(self.options.text_timeout)
        # Admitted now: a busy voice answers before any text is sent.
        chunks = await self.registry.open_stream(name, feed, config)
        self._feed, self._chars = feed, 0
        self._stream_task = asyncio.create_task(self._speak_stream(chunks))

    def _feed_text(self, text: str) -> None:
        if self._feed is None:
            raise ValueError("synthesize-chunk without synthesize-start")
        self._chars += len(text)
        if self._chars > self.options.max_chars:
            raise ValueError(f"streamed text exceeds {self.options.max_chars} characters")
        self._feed.put(text)

    async def _stop_stream(self) -> None:
        if self._feed is None or self._stream_task is None:
            raise ValueError("synthesize-stop without synthesize-start")
        self._feed.end()
        task, self._feed, self._stream_task = self._stream_task, None, None
        self._writing = True
        try:
            await task
            await self.write_event(SynthesizeStopped().event())
        finally:
            self._writing = False

    async def _speak_stream(self, chunks: ChunkStream) -> None:
        """One audio-start ... audio-stop per sentence; the silence before a sentence opens its audio."""
        open_audio = False
        try:
            async for chunk in chunks:
                if not open_audio:
                    await self.write_event(self._audio_start(chunks))
                    open_audio = True
                await self._write_audio(chunks, chunk)
                if chunk.last_in_sentence and chunk.sentence_index >= 0:
                    await self.write_event(AudioStop().event())
                    open_audio = False
        except (Busy, ShuttingDown, ValueError, TypeError, TimeoutError) as exc:
            await self._error(exc)
        except ConnectionError:
            self._gone = True
        finally:
            await chunks.aclose()
            if open_audio and not self._gone:
                await self.write_event(AudioStop().event())

    @property
    def answering(self) -> bool:
        """Writing an answer now: shutdown lets it finish before closing the connection."""
        if self._gone:
            return False
        return self._writing or (self._stream_task is not None and not self._stream_task.done())

    def _audio_start(self, chunks: ChunkStream) -> Event:
        return AudioStart(rate=chunks.sample_rate, width=2, channels=1).event()

    async def _write_audio(self, chunks: ChunkStream, chunk: VoxChunk) -> None:
        if chunk.audio.size:
            await self.write_event(AudioChunk(rate=chunks.sample_rate, width=2, channels=1,
                                              audio=pcm16(chunk.audio)).event())

    async def _error(self, exc: BaseException) -> None:
        code = ERROR_CODES.get(type(exc), "bad-request")
        log.info("wyoming request refused: %s", exc)
        await self.write_event(Error(text=str(exc).strip("'\""), code=code).event())

    async def disconnect(self) -> None:
        # The client is gone: end its open stream so that the worker finishes and is freed.
        self._gone = True
        if self._feed is not None:
            self._feed.end()
        if self._stream_task is not None:
            self._stream_task.cancel()


async def serve_wyoming(registry: VoiceRegistry, uri: str, options: WyomingOptions,
                        started: asyncio.Event | None = None) -> None:
    """Serve until cancelled. `uri`: tcp://HOST:PORT (Home Assistant's default port is 10200).

    Cancelled, it stops listening, gives the connections still writing an answer up to FINISH_SECONDS
    (after `VoiceRegistry.drain` only the last events of an answer are left to write), then closes them.
    """
    server = AsyncServer.from_uri(uri)
    handlers: weakref.WeakSet[VoxportEventHandler] = weakref.WeakSet()

    def make(*args: Any, **kwargs: Any) -> VoxportEventHandler:
        handler = VoxportEventHandler(registry, options, *args, **kwargs)
        handlers.add(handler)
        return handler

    # start(), not run(): run() installs a SIGTERM handler of its own that drops every connection at once.
    await server.start(make)
    if started is not None:
        started.set()
    try:
        await asyncio.Event().wait()
    finally:
        listener = getattr(server, "_server", None)  # the asyncio server; stop() below also closes it
        if listener is not None:
            listener.close()
        deadline = asyncio.get_running_loop().time() + FINISH_SECONDS
        while any(h.answering for h in handlers) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await server.stop()
