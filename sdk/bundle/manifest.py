"""The bundle manifest: the dataclasses it parses into, validated field by field and against the
stage contract (voxport.bundle.contract), so a damaged or hand-edited manifest fails at load with the field
named, never in the middle of synthesis.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields
from typing import Any

from voxport.bundle.contract import StageContract, pipeline_order
from voxport.bundle.errors import BundleVersionError, MissingVariantError
from voxport.bundle.fields import JsonObject, ManifestPath, check_int, fail
from voxport.bundle.mel_params import MelParams
from voxport.bundle.policy import CalibrationPolicy, policies_from_json
from voxport.families.tacotron2.params import DecoderLoop, VocoderNoise
from voxport.runtimes.base import TensorSpec
from voxport.runtimes.shapes import ShapePlan
from voxport.synthesis import Scales

# 2: n_vocab, streaming reach and calibration policies became validated fields (1 kept them in `extra`).
# 3: calibration became a list of policies, one per (runtime, device class) (voxport.bundle.policy).
FORMAT_VERSION = 3
MANIFEST_NAME = "manifest.json"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _tensor_from_dict(d: Any, manifest_path: ManifestPath, fld: str) -> TensorSpec:
    o = JsonObject(d, fld, manifest_path, {"name", "dtype", "shape"})
    shape = tuple(dim if isinstance(dim, str) and dim else check_int(dim, f"{fld}.shape[{i}]", o.mp)
                  for i, dim in enumerate(o.array("shape")))
    try:
        return TensorSpec(name=o.string("name"), dtype=o.string("dtype"), shape=shape)
    except ValueError as exc:  # name and shape are checked above: this is a dtype numpy does not know
        fail(o.mp, f"{fld}.dtype", str(exc))


@dataclass(frozen=True)
class GraphVariant:
    """One file of a graph at one precision; ``file`` is relative to the bundle, '/'-separated."""

    file: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "variant") -> GraphVariant:
        o = JsonObject(d, field, manifest_path, {"file", "sha256", "size"})
        digest = o.get("sha256")
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            fail(o.mp, o.name("sha256"), f"must be 64 lowercase hex digits, got {digest!r}")
        return cls(file=o.string("file"), sha256=digest, size=o.integer("size"))


@dataclass(frozen=True)
class GraphEntry:
    """One pipeline stage: its I/O signature and one file per precision ("fp32", "fp16", "int8", ...),
    plus copies of a precision's graph keyed by `static_variant` ("fp32@128") or `unmasked_variant`."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    variants: dict[str, GraphVariant]
    # What the exporter knows about this graph that a runtime may use, e.g. {"keep_fp32_ops": true}: it
    # holds ops that overflow in fp16 (a flow), which TensorRT then keeps in fp32.
    hints: dict[str, Any] = field(default_factory=dict)

    def static_sizes(self, precision: str = "fp32") -> list[int]:
        """Sizes of the static-shape copies of this graph at `precision` (see static_variant)."""
        return sorted(int(k.split("@")[1]) for k in self.variants if k.startswith(f"{precision}@"))

    def variant(self, precision: str, *, stage: str | None = None) -> GraphVariant:
        """Return the file at ``precision``; ``stage`` only improves the error message."""
        try:
            return self.variants[precision]
        except KeyError:
            raise MissingVariantError(precision, list(self.variants), stage) from None

    def to_dict(self) -> dict[str, Any]:
        d = {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "variants": {p: v.to_dict() for p, v in self.variants.items()},
        }
        return {**d, "hints": copy.deepcopy(self.hints)} if self.hints else d

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "graph") -> GraphEntry:
        o = JsonObject(d, field, manifest_path, {"inputs", "outputs", "variants", "hints"})
        io = {key: tuple(_tensor_from_dict(t, o.mp, f"{o.name(key)}[{i}]")
                         for i, t in enumerate(o.array(key))) for key in ("inputs", "outputs")}
        variants = o.obj("variants")
        if not variants.d:
            fail(o.mp, variants.fld, "must list at least one precision")
        return cls(inputs=io["inputs"], outputs=io["outputs"], variants={
            p: GraphVariant.from_dict(v, o.mp, variants.name(p)) for p, v in variants.d.items()},
            hints=copy.deepcopy(o.obj("hints", default={}).d))


@dataclass(frozen=True)
class DurationRule:
    """How predicted log-durations become frames: ceil((exp(logw) + offset) * length_scale), then at least
    `min_frames` per phoneme. VITS: offset 0, min 0; GlowTTS predicts log(1 + frames): offset -1, min 1."""

    offset: float = 0.0
    min_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "min_frames": self.min_frames}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "durations") -> DurationRule:
        o = JsonObject(d, field, manifest_path, {"offset", "min_frames"})
        return cls(offset=o.number("offset", 0.0), min_frames=o.integer("min_frames", 0, default=0))


@dataclass(frozen=True)
class Reach:
    """Frames of context each streamed window needs on each side, per graph (measured at build time by
    voxport.pipeline.reach); vocoder None: not local in time (Griffin-Lim), so windows cannot be cut."""

    decoder: int
    vocoder: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"decoder_context_frames": self.decoder, "vocoder_context_frames": self.vocoder}

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None, field: str = "streaming") -> Reach:
        o = JsonObject(d, field, manifest_path, {"decoder_context_frames", "vocoder_context_frames"})
        vocoder = o.get("vocoder_context_frames", None)
        return cls(decoder=o.integer("decoder_context_frames"),
                   vocoder=None if vocoder is None else o.integer("vocoder_context_frames"))


def static_variant(precision: str, size: int) -> str:
    """The variant key of a graph copy whose time axis is fixed at `size` ("fp32@128")."""
    return f"{precision}@{size}"


UNMASKED = "unmasked"


def unmasked_variant(precision: str) -> str:
    """The variant key of a graph copy without the `frame_mask` input ("fp32:unmasked").

    A masked graph multiplies by frame_mask after every convolution so that windows padded to bucket
    shapes compute exactly; a call that is never padded feeds all ones, and those multiplications are
    pure cost (they also keep onnxruntime from fusing Conv + Add). The copy has the same weights and
    the entry's inputs minus frame_mask; the SDK opens it only for stages it will never pad
    (voxport.pipeline.sessions). Bundles without it run the masked graph, as before.
    """
    return f"{precision}:{UNMASKED}"


def _shape_plan(o: JsonObject) -> ShapePlan | None:
    if o.get("shapes", None) is None:
        return None
    shapes = o.obj("shapes", allowed={"phoneme_buckets", "frame_buckets"})
    try:
        return ShapePlan(**{k: tuple(shapes.array(k)) for k in ("phoneme_buckets", "frame_buckets")})
    except ValueError as exc:
        fail(o.mp, "shapes", str(exc))


# Optional fields written only when they differ from these defaults, so manifests stay short.
_OPTIONAL_DEFAULTS: dict[str, Any] = {"durations": DurationRule(), "frame_multiple": 1, "mel": None,
                                      "streaming": None, "calibration": (), "shapes": None,
                                      "decoder_loop": None, "vocoder_noise": None, "params": {}}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything a runtime needs besides the graph files themselves. `graphs` is in pipeline order."""

    format_version: int = FORMAT_VERSION
    family: str
    name: str
    sample_rate: int
    hop_length: int
    graphs: dict[str, GraphEntry]
    n_vocab: int  # phoneme ids must lie in [0, n_vocab)
    phoneme_id_map: dict[str, list[int]]
    phonemizer: dict[str, Any]
    inference: Scales = field(default_factory=Scales)  # the voice's default scales
    num_speakers: int = 1
    speaker_id_map: dict[str, int] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # informational only: nothing reads it to run
    durations: DurationRule = field(default_factory=DurationRule)
    # The decoder reads frame counts that are a multiple of this (GlowTTS's squeeze); the SDK trims.
    frame_multiple: int = 1
    mel: MelParams | None = None  # for models that decode to a mel spectrogram
    streaming: Reach | None = None
    calibration: tuple[CalibrationPolicy, ...] = ()  # accepted policies, one per (runtime, device class)
    shapes: ShapePlan | None = None  # the buckets fixed-shape runs use (and static graphs were written for)
    decoder_loop: DecoderLoop | None = None  # autoregressive families: the decoder step's loop on the host
    vocoder_noise: VocoderNoise | None = None  # a vocoder that samples (WaveGlow's z)
    # A family's own fields (voice packs, codec settings...), checked by its `Family.check_params` at load,
    # so a new family needs no new field here.
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        order = pipeline_order(self.graphs, _contracts(self.family))
        object.__setattr__(self, "graphs", {s: self.graphs[s] for s in order}
                           | {s: g for s, g in self.graphs.items() if s not in order})

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(self.graphs)

    def language(self) -> str:
        """The language the voice speaks: the phonemizer's, else the source's, else the espeak voice's, else
        what its family infers for a bundle written before the exporter recorded it, else en-us."""
        ph = self.phonemizer
        recorded = ph.get("language") or self.source.get("language") or ph.get("voice")
        if recorded:
            return str(recorded)
        from voxport.families import family_named  # families import the manifest: not at load

        return family_named(self.family).language_of(self) or "en-us"

    def policies_for(self, runtime: str) -> tuple[CalibrationPolicy, ...]:
        """The calibrated policies recorded for `runtime` (canonical name), in the order they were added."""
        return tuple(p for p in self.calibration if p.runtime == runtime)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready deep copy, keys in a readable order; mutating it does not affect the manifest."""
        d: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _OPTIONAL_DEFAULTS and value == _OPTIONAL_DEFAULTS[f.name]:
                continue
            if f.name == "graphs":
                d[f.name] = {k: v.to_dict() for k, v in value.items()}
            elif f.name == "calibration":
                d[f.name] = [policy.to_dict() for policy in value]
            else:
                d[f.name] = value.to_dict() if hasattr(value, "to_dict") else copy.deepcopy(value)
        return d

    @classmethod
    def from_dict(cls, d: Any, manifest_path: ManifestPath = None) -> Manifest:
        """Validate ``d`` (parsed manifest JSON); raises BundleFormatError / BundleVersionError."""
        o = JsonObject(d, "", manifest_path)
        # Version first: a newer format may legitimately have fields this version does not know.
        if _check_version(o.get("format_version"), o.mp) == 1:
            d = _from_version_1(o.d)
        o = JsonObject(d, "", manifest_path, {f.name for f in fields(cls)})
        graphs = _graphs(o, o.string("family"))
        num_speakers = o.integer("num_speakers", 1, default=1)
        speakers = o.obj("speaker_id_map", default={})
        for spk in speakers.d:
            if speakers.integer(spk) >= num_speakers:
                fail(o.mp, speakers.name(spk), f"is {speakers.d[spk]}, but num_speakers is {num_speakers}")
        sample_rate = o.integer("sample_rate", 1)
        return cls(
            family=o.string("family"),
            name=o.string("name"),
            sample_rate=sample_rate,
            hop_length=o.integer("hop_length", 1),
            graphs=graphs,
            n_vocab=o.integer("n_vocab", 1),
            phoneme_id_map=_id_map(o),
            phonemizer=copy.deepcopy(o.obj("phonemizer").d),
            inference=_scales(o),
            num_speakers=num_speakers,
            speaker_id_map=speakers.d,
            source=copy.deepcopy(o.obj("source", default={}).d),
            extra=copy.deepcopy(o.obj("extra", default={}).d),
            durations=DurationRule.from_dict(o.get("durations", {}), o.mp),
            frame_multiple=o.integer("frame_multiple", 1, default=1),
            mel=None if o.get("mel", None) is None else MelParams.from_dict(o.d["mel"], o.mp,
                                                                          sample_rate=sample_rate),
            streaming=None if o.get("streaming", None) is None else Reach.from_dict(o.d["streaming"], o.mp),
            calibration=policies_from_json(o.get("calibration", []), o.mp, tuple(graphs)),
            shapes=_shape_plan(o),
            decoder_loop=(None if o.get("decoder_loop", None) is None
                          else DecoderLoop.from_dict(o.d["decoder_loop"], o.mp)),
            vocoder_noise=(None if o.get("vocoder_noise", None) is None
                           else VocoderNoise.from_dict(o.d["vocoder_noise"], o.mp)),
            params=_params(o),
        )


def _contracts(family: str, o: JsonObject | None = None) -> dict[str, StageContract]:
    """The stage set of `family`, from its registration (voxport.families); an unknown family fails naming it."""
    from voxport.families import UnknownFamilyError, family_named  # families import the manifest: not at load

    try:
        return dict(family_named(family).contracts)
    except UnknownFamilyError as exc:
        if o is None:
            raise
        fail(o.mp, "family", str(exc))


def _graphs(o: JsonObject, family: str) -> dict[str, GraphEntry]:
    """The graphs, each checked against its stage's contract (the family's stage set), in pipeline order."""
    graphs = o.obj("graphs")
    contracts = _contracts(family, o)
    for stage in graphs.d:
        if stage not in contracts:
            fail(o.mp, graphs.name(stage), f"is not a pipeline stage of {family} (known: {list(contracts)})")
    for stage, contract in contracts.items():
        if contract.required and stage not in graphs.d:
            fail(o.mp, graphs.name(stage), "is required but missing")
    entries = {s: GraphEntry.from_dict(graphs.d[s], o.mp, graphs.name(s))
               for s in pipeline_order(graphs.d, contracts)}
    for stage, entry in entries.items():
        problems = contracts[stage].problems(tuple(t.name for t in entry.inputs), tuple(t.name for t in entry.outputs))
        if problems:
            fail(o.mp, graphs.name(stage), "; ".join(problems))
    return entries


def _params(o: JsonObject) -> dict[str, Any]:
    from voxport.families import family_named

    params = copy.deepcopy(o.obj("params", default={}).d)
    check = family_named(o.string("family")).check_params  # the family is known: _graphs checked it
    if check is not None:
        check(params, o.mp)
    elif params:
        fail(o.mp, "params", f"family {o.string('family')!r} reads no params")
    return params


def _id_map(o: JsonObject) -> dict[str, list[int]]:
    id_map = o.obj("phoneme_id_map")
    return {sym: [check_int(i, f"{id_map.name(sym)}[{n}]", o.mp) for n, i in enumerate(id_map.array(sym))]
            for sym in id_map.d}


def _scales(o: JsonObject) -> Scales:
    inference = o.obj("inference", default={}, allowed={"length_scale", "noise_scale", "noise_w"})
    d = Scales()
    values = {k: inference.number(k, getattr(d, k)) for k in ("length_scale", "noise_scale", "noise_w")}
    try:
        return Scales(**values)
    except ValueError as exc:
        fail(o.mp, "inference", str(exc))


def _from_version_1(d: dict[str, Any]) -> dict[str, Any]:
    """A format-1 manifest as format 2: the fields the engine reads come out of `extra`."""
    d = copy.deepcopy(d)
    extra = d.get("extra") if isinstance(d.get("extra"), dict) else {}
    d["format_version"] = FORMAT_VERSION
    n_vocab = extra.get("model_config", {}).get("n_vocab") if isinstance(extra.get("model_config"), dict) else None
    if n_vocab is None and isinstance(d.get("phoneme_id_map"), dict):
        ids = [i for v in d["phoneme_id_map"].values() if isinstance(v, list) for i in v if isinstance(i, int)]
        n_vocab = max(ids, default=0) + 1
    d["n_vocab"] = n_vocab
    if "streaming" in extra:
        d["streaming"] = extra.pop("streaming")
    if "calibration" in extra:
        # Format 1 keyed onnxruntime's policy by its old runtime name.
        d["calibration"] = {("onnxruntime" if r == "cpu" else r): p for r, p in extra.pop("calibration").items()}
    return d


def _check_version(v: Any, mp: ManifestPath) -> int:
    valid = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    if not valid or v > FORMAT_VERSION:
        has = f"format_version {v}" if valid else f"an invalid format_version {v!r} (must be an integer)"
        raise BundleVersionError(
            f"{mp or '<manifest>'}: the bundle has {has}, but this voxport reads format_version "
            f"{FORMAT_VERSION} at most; upgrade voxport, or rebuild the bundle with this version of voxport"
        )
    return v
