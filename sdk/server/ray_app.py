"""`voxport serve` scaled out on Ray Serve: the same HTTP service, as replicas a Ray cluster schedules.

Each replica is one Ray actor that loads its own `VoiceRegistry` and serves the very Starlette app of
`voxport.server.http.build_app` through `serve.ingress` (routes are not re-implemented here); Ray Serve's
proxy routes requests among replicas, streams responses through, replaces a replica that dies and, with
an autoscaling config, adds or removes replicas with load. Wyoming (raw TCP) is not served this way: Ray
Serve proxies HTTP and gRPC only.

Three ways in, one builder underneath:
  voxport serve --ray --voice joe=/srv/joe.bundle --replicas 2
  serve run voxport.server.ray_app:app_builder voices=joe=/srv/joe.bundle replicas=2
  serve deploy config.yaml   (import_path: voxport.server.ray_app:app_builder, args: {...})

Every voice's bundle directory must exist at the same path on every node that may run a replica.
Needs the `ray` extra (`pip install 'voxport[ray]'`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import serve
from starlette.applications import Starlette

from voxport.server.http import HttpOptions, build_app
from voxport.server.registry import VoiceRegistry, VoiceSpec
from voxport.server.voice_names import parse_voice_map

DEPLOYMENT_NAME = "Voxport"
REPLICA_HEADER = "x-voxport-replica"  # the Ray actor name of the replica that answered


class RayAppError(ValueError):
    """A Ray Serve application argument that is missing, unknown or malformed."""


@dataclass(frozen=True)
class ReplicaSettings:
    """What every replica loads and how it answers; the same for all replicas of a deployment."""

    voices: tuple[VoiceSpec, ...]
    workers: int = 1  # loaded copies per voice in one replica; scale out with replicas instead
    threads: int = 1
    http: HttpOptions = field(default_factory=HttpOptions)

    @property
    def concurrency(self) -> int:
        """Requests one replica runs at once: every worker of every voice."""
        return self.workers * len(self.voices)


@dataclass(frozen=True)
class RayServeOptions:
    """A whole deployment: the replicas' settings plus how many replicas, fixed or autoscaled."""

    replica: ReplicaSettings
    replicas: int = 1  # fixed count; ignored when `autoscale` is given
    autoscale: tuple[int, int] | None = None  # (min, max) replicas
    target_ongoing_requests: float | None = None  # per replica; default: its concurrency
    queue_size: int = 8  # requests waiting in each Ray proxy for a free replica before 503
    num_cpus: float | None = None  # reserved per replica; default: its concurrency x threads

    def deployment_options(self) -> dict[str, Any]:
        """Keyword arguments for `Deployment.options`."""
        s = self.replica
        options: dict[str, Any] = {
            # Ray's router is the queue: it sends a replica only what its workers can start now and
            # retries elsewhere when one is full, so a free replica never idles while another queues.
            "max_ongoing_requests": s.concurrency,
            # Bounded, so that past it a client gets a 503 at once rather than an unbounded wait.
            "max_queued_requests": self.queue_size,
            "ray_actor_options": {"num_cpus": self.num_cpus if self.num_cpus is not None
                                  else float(s.concurrency * s.threads)},
        }
        if self.autoscale:
            low, high = self.autoscale
            options["autoscaling_config"] = {
                "min_replicas": low, "max_replicas": high, "initial_replicas": max(low, 1),
                "target_ongoing_requests": self.target_ongoing_requests or float(s.concurrency),
            }
        else:
            options["num_replicas"] = self.replicas
        return options


class _ReplicaHeader:
    """Names the replica on every response: which copy answered (tests, debugging a bad node)."""

    def __init__(self, app: Any, name: str) -> None:
        self.app, self.header = app, (REPLICA_HEADER.encode(), name.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)


@serve.ingress()  # no app yet: each replica builds its own around its own registry, below
class VoxportReplica:
    """One replica: a loaded `VoiceRegistry` behind the `voxport serve` HTTP app."""

    def __init__(self, settings: ReplicaSettings) -> None:
        self.settings = settings
        # Ray admits `concurrency` requests, possibly all for one voice; the registry queues those, and a
        # worker that a departed client frees a moment late does not turn the next request into Busy.
        self.registry = VoiceRegistry.load(list(settings.voices), workers=settings.workers,
                                           queue_size=settings.concurrency, threads=settings.threads)

    def __serve_build_asgi_app__(self) -> Starlette:
        app = build_app(self.registry, self.settings.http)
        app.add_middleware(_ReplicaHeader, name=ray.get_runtime_context().get_actor_name() or f"pid-{os.getpid()}")
        return app

    def __del__(self) -> None:  # Ray Serve calls it when it stops the replica
        registry = getattr(self, "registry", None)
        if registry is not None:
            registry.close()


VoxportDeployment = serve.deployment(name=DEPLOYMENT_NAME)(VoxportReplica)


def build_application(options: RayServeOptions) -> serve.Application:
    """The deployment, sized by `options`, ready for `serve.run`."""
    return VoxportDeployment.options(**options.deployment_options()).bind(options.replica)


def app_builder(args: dict[str, Any]) -> serve.Application:
    """For `serve run` / `serve deploy` (`import_path: voxport.server.ray_app:app_builder`).

    `args` come from a config file's `args:` or `serve run`'s `key=value` words (then every value is a
    string): voices (required: `NAME=BUNDLE_DIR`, a list or comma-separated), replicas, autoscale (`MIN:MAX`),
    target_ongoing_requests, num_cpus, workers, queue, threads, api_key (default $VOXPORT_API_KEY),
    max_chars, seed, request_timeout.
    """
    return build_application(parse_args(args))


_KNOWN = ("voices", "replicas", "autoscale", "target_ongoing_requests", "num_cpus", "workers", "queue", "threads",
          "api_key", "max_chars", "seed", "request_timeout", "voice_map")


def parse_args(args: Mapping[str, Any]) -> RayServeOptions:
    """Application arguments -> options, every mistake a `RayAppError` that names the argument."""
    unknown = sorted(set(args) - set(_KNOWN))
    if unknown:
        raise RayAppError(f"unknown argument(s) {', '.join(unknown)}; known: {', '.join(_KNOWN)}")
    voices = _voices(args.get("voices"))
    http = HttpOptions(
        api_key=str(args.get("api_key") or os.environ.get("VOXPORT_API_KEY") or "") or None,
        max_chars=_int(args, "max_chars", HttpOptions.max_chars, low=1),
        seed=_int(args, "seed", None, low=0),
        request_timeout=_float(args, "request_timeout", HttpOptions.request_timeout),
        voice_map=_voice_map(args.get("voice_map")),
    )
    replica = ReplicaSettings(voices=voices, workers=_int(args, "workers", 1, low=1),
                              threads=_int(args, "threads", 1, low=1), http=http)
    return RayServeOptions(
        replica=replica, replicas=_int(args, "replicas", 1, low=1), autoscale=parse_autoscale(args.get("autoscale")),
        target_ongoing_requests=_float(args, "target_ongoing_requests", None),
        queue_size=_int(args, "queue", 8, low=1), num_cpus=_float(args, "num_cpus", None, zero=True),
    )


def parse_autoscale(value: Any) -> tuple[int, int] | None:
    """`MIN:MAX` replicas (or a two-item list), MIN >= 0, MAX >= max(MIN, 1)."""
    if value is None or value == "":
        return None
    parts = value.split(":") if isinstance(value, str) else value
    try:
        low, high = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise RayAppError(f"autoscale is MIN:MAX replicas, e.g. 1:4, got {value!r}") from None
    if low < 0 or high < max(low, 1):
        raise RayAppError(f"autoscale needs 0 <= MIN <= MAX and MAX >= 1, got {low}:{high}")
    return low, high


def _listed(value: Any) -> Any:
    """A comma-separated string (how `serve run` passes every argument) as its non-empty items; else as given."""
    return [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value


def _voices(value: Any) -> tuple[VoiceSpec, ...]:
    value = _listed(value)
    if not value or not isinstance(value, (list, tuple)):
        raise RayAppError("give at least one voice: voices=NAME=BUNDLE_DIR[,NAME=BUNDLE_DIR...]")
    try:
        specs = [VoiceSpec.parse(str(v).strip()) for v in value]
    except ValueError as exc:
        raise RayAppError(str(exc)) from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RayAppError(f"voice names must be unique, got {names}")
    # Relative to where the application is built; replicas run elsewhere, so they get absolute paths.
    return tuple(VoiceSpec(s.name, s.path.expanduser().absolute()) for s in specs)


def _voice_map(value: Any) -> tuple[tuple[str, str], ...]:
    """`voice_map=NAME=VOICE[,NAME=VOICE...]` (or a list): extra request names, as `--voice-map` gives them.
    Only the form is checked here; each replica checks the targets against its voices when it builds its app."""
    if value is None or value == "":
        return ()
    value = _listed(value)
    if not isinstance(value, (list, tuple)):
        raise RayAppError(f"voice_map is NAME=VOICE[,NAME=VOICE...], got {value!r}")
    try:
        return tuple(parse_voice_map([str(v) for v in value]).items())
    except ValueError as exc:
        raise RayAppError(f"voice_map: {exc}") from None


def _int(args: Mapping[str, Any], key: str, default: int | None, *, low: int | None = None) -> Any:
    value = args.get(key)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise RayAppError(f"{key} must be an integer, got {value!r}") from None
    if low is not None and number < low:
        raise RayAppError(f"{key} must be >= {low}, got {value!r}")
    return number


def _float(args: Mapping[str, Any], key: str, default: float | None, *, zero: bool = False) -> Any:
    """A finite number > 0 (>= 0 with `zero`)."""
    value = args.get(key)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise RayAppError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
        raise RayAppError(f"{key} must be a finite number {'>=' if zero else '>'} 0, got {value!r}")
    return number


def ray_status(app_name: str = "voxport") -> dict[str, int]:
    """Replica counts by state ("RUNNING", "STARTING", ...) of the application's deployment."""
    app = serve.status().applications.get(app_name)
    if app is None or DEPLOYMENT_NAME not in app.deployments:
        return {}
    return {str(k): v for k, v in app.deployments[DEPLOYMENT_NAME].replica_states.items()}


def run(options: RayServeOptions, *, address: str | None = None, host: str = "127.0.0.1", port: int = 8000,
        app_name: str = "voxport", request_timeout: float | None = None) -> None:
    """`voxport serve --ray`: join (or start) Ray, deploy, and serve until Ctrl-C; then tear the app down."""
    import contextlib
    import signal
    import threading
    import time

    if threading.current_thread() is threading.main_thread():
        # A service manager stops with SIGTERM: tear down as on Ctrl-C, or a local Ray outlives us.
        signal.signal(signal.SIGTERM, _interrupt)
    ray.init(address=address, ignore_reinit_error=True)
    try:
        serve.start(http_options={"host": host, "port": port, "request_timeout_s": request_timeout})
        serve.run(build_application(options), name=app_name, route_prefix="/")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop, not an error
            while True:  # the proxy serves from Ray's processes; this one only waits to tear down
                time.sleep(3600)
    finally:
        try:
            serve.delete(app_name)
        finally:
            ray.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
