"""Trained models, described by a frozen spec and cached on disk.

Every testbed asks for models by :class:`ModelSpec`; the zoo trains each spec once per machine.
Files are named by a hash of the spec's ``string_id`` and written atomically (temporary file,
then ``os.replace``) under a cross-process file lock, so N pytest-xdist workers asking for the
same spec train it once and never read a half-written file. The checkpoint's SHA-256 is recorded
in the metadata JSON beside it; a file that does not match is reported and retrained.

The cache directory may hold other files: the zoo only ever touches entries of its own format
(``<key>.pt`` / ``<key>.json`` with ``key`` a 12-digit hex hash), and never one whose lock is
held. A read-only cache serves the models it has (there is nobody to lock against).

Shipped weights (``pretrained/`` beside this module, read-only): the default run's models, trained
once by this same code and exported by ``stitchtest zoo --export-pretrained``. A spec the cache lacks
is copied from there, byte for byte, before anything is trained: a cold run then skips the training,
and every machine audits the same networks (CPUs round bf16 and fp32 sums differently). They are keyed
like the cache, so a changed spec or recipe never finds them and is trained as before.
``STITCHTEST_PRETRAINED=0`` ignores them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import lzma
import os
import platform
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from filelock import FileLock, Timeout

from .. import __version__
from ..runtime import concurrency, devices
from ..runtime.paths import CacheError, check_root, default_root
from ..data import tasks
from .attacks import robust_accuracy
from ..data.cue import with_cue
from ..data.dataset import Dataset, load
from ..data.spec import DataSpec
from ..data.view import DataView
from ..runtime.files import atomic_write
from ..runtime.ids import short_hash, string_id
from .core import CutModel, build, family_id
from .training import Recipe, accuracy, calibrate_batchnorm, train

#: training and cache messages, for a caller that gives the zoo no ``log`` of its own (a library user,
#: ``stitchtest zoo``); the plugin passes its progress log instead
logger = logging.getLogger(__name__)

REGIMES = ("standard", "random", "adversarial", "shortcut")
#: Bump when the training recipe changes in a way the spec does not capture: invalidates caches.
#: v2: CPU training always runs on one thread (weights then do not depend on the worker count).
RECIPE_VERSION = 2
#: the shipped entries: ``<key>.pt.xz`` (the cache's checkpoint, xz-compressed: 9% smaller, byte-identical
#: once unpacked, so the metadata's SHA-256 still checks it) and ``<key>.json`` (its metadata)
PRETRAINED = Path(__file__).with_name("pretrained")


def key_of(string_id: str) -> str:
    """A model's cache key from its string id and the recipe version (:attr:`ModelSpec.key`)."""
    return short_hash(f"{string_id}|v{RECIPE_VERSION}")


def pretrained_root() -> Optional[Path]:
    """The shipped weights' folder, or None where ``STITCHTEST_PRETRAINED=0`` asks to train everything
    here (to check the shipped models against this machine's own)."""
    return None if os.environ.get("STITCHTEST_PRETRAINED", "1").strip().lower() in ("0", "no", "false") else PRETRAINED


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines a trained model's weights."""

    arch: str = "R1111"
    #: 8, not 16: at width 16 a random R1111 on 16x16 digits is nearly an invertible projection and
    #: the random-sender control is weak (docs/lab/facts.md#f3); at 8 it costs a trained sender 14-19
    #: TLM points at the deep cuts (README, "Choosing the default scale")
    width: int = 8
    data: DataSpec = field(default_factory=DataSpec)
    seed: int = 0
    epochs: int = 15
    regime: str = "standard"
    task: str = "class"
    #: adversarial regime: L-inf radius in normalised pixel units, PGD steps, weight of the adversarial loss
    eps: float = 0.5
    attack_steps: int = 3
    alpha: float = 1.0
    #: shortcut regime: fraction of training images carrying the cue, and its kind
    cue_p: float = 1.0
    cue_kind: str = "position"
    recipe: Recipe = field(default_factory=Recipe)

    def __post_init__(self):
        if self.regime not in REGIMES:
            raise ValueError(f"unknown regime {self.regime!r}; known: {', '.join(REGIMES)}")
        if self.task not in tasks.NAMES:
            raise ValueError(f"unknown task {self.task!r}; known: {', '.join(tasks.NAMES)}")

    def string_id(self) -> str:
        """Readable id with only the fields that matter for this regime.

        A registered family's id carries ``code=`` (a digest of :func:`~stitchtest.models.family_id`):
        the id keys cells, results rows and baselines, so a family whose code changed under the same
        name must not find the old code's rows on ``--stitch-resume`` or in a baseline. The built-in
        families' ids are unchanged (their code is versioned with the recipe).
        """
        f = dict(arch=self.arch, width=self.width, data=self.data.string_id(), seed=self.seed, regime=self.regime)
        if self.regime != "random":
            f["epochs"] = self.epochs
        if self.task != "class":
            f["task"] = self.task
        if self.regime == "adversarial":
            f.update(eps=self.eps, attack_steps=self.attack_steps, alpha=self.alpha)
        if self.regime == "shortcut":
            f.update(cue_p=self.cue_p, cue_kind=self.cue_kind)
        if self.recipe != Recipe():
            f["recipe"] = string_id(self.recipe)
        family = family_id(self.arch)
        if family:
            f["code"] = short_hash(family)
        return string_id(self, **f).replace("ModelSpec", "model", 1)

    @property
    def key(self) -> str:
        """File-name stem and the model's identity: hash of the string id (which carries a registered
        family's code digest) and the recipe version."""
        return key_of(self.string_id())

    def replace(self, **changes) -> "ModelSpec":
        return dataclasses.replace(self, **changes)

    def clean_view(self) -> DataView:
        """The model's data read as its task, without a cue: what a standard model of this spec is
        trained on, and the cue-free images a shortcut model is measured on."""
        return DataView(self.data, self.task)


def training_data(spec: ModelSpec, device: torch.device) -> Dataset:
    """The data set a spec is trained and evaluated on (cue-stamped for the shortcut regime)."""
    ds = load(spec.data, device)
    if spec.regime == "shortcut":
        ds = with_cue(ds, spec.cue_p, spec.cue_p, kind=spec.cue_kind, seed=spec.seed)
    y_train, k = tasks.relabel(ds.y_train, spec.task, ds.num_classes)
    y_test, _ = tasks.relabel(ds.y_test, spec.task, ds.num_classes)
    return ds.replace(y_train=y_train, y_test=y_test, num_classes=k)


def versions() -> Dict[str, str]:
    import torchvision

    return {"stitchtest": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version()}


def train_model(spec: ModelSpec, device: torch.device, log: Callable[[str], None] = lambda s: None
                ) -> Tuple[CutModel, dict]:
    """Build and train ``spec`` from scratch; returns the model (eval mode) and its metadata."""
    ds = training_data(spec, device)
    with concurrency.seeded(spec.seed):
        model = build(spec.arch, spec.width, ds.in_channels, ds.num_classes).to(device)
    if spec.regime == "random":
        start = time.perf_counter()
        calibrate_batchnorm(model, ds.x_train)
        seconds = time.perf_counter() - start
    else:
        adv = dict(eps=spec.eps, steps=spec.attack_steps, alpha=spec.alpha) if spec.regime == "adversarial" else None
        seconds = train(model, ds.x_train, ds.y_train, epochs=spec.epochs, seed=spec.seed, recipe=spec.recipe,
                        adversarial=adv, log=lambda s: log(f"{spec.string_id()}: {s}"))
    model.eval()
    meta = {
        "spec": spec.string_id(),
        "key": spec.key,
        "config": dataclasses.asdict(spec),
        "recipe_version": RECIPE_VERSION,
        "in_channels": ds.in_channels,
        "num_classes": ds.num_classes,
        "clean_accuracy": accuracy(model, ds.x_test, ds.y_test),
        "robust_accuracy": robust_accuracy(model, ds.x_test, ds.y_test, eps=spec.eps, steps=10),
        "robust_eps": spec.eps,
        "train_seconds": round(seconds, 3),
        "device": devices.describe(device),
        "cpu": devices.cpu_name(),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if spec.regime == "shortcut":  # how much the model leans on the cue
        clean = spec.clean_view().load(device)
        meta["cue_free_accuracy"] = accuracy(model, clean.x_test, clean.y_test)
    return model, meta


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CorruptEntry(Exception):
    """A cached checkpoint that is missing, partial or does not match its metadata."""


#: ``<key>.pt``, ``<key>.json``, their temporary files ``<key>.pt<random>.tmp`` and lock ``<key>.pt.lock``.
_ENTRY_FILE = re.compile(r"^([0-9a-f]{12})\.(pt|json)(\.lock|[^/]*\.tmp)?$")


def _entry_key(path: Path) -> Optional[str]:
    """The key of a file the zoo writes (not its lock), or None for anything else."""
    match = _ENTRY_FILE.match(path.name)
    if not match or match.group(3) == ".lock" or path.is_symlink() or not path.is_file():
        return None
    return match.group(1)


def _metadata(path: Path) -> dict:
    """The metadata JSON object at ``path``; CorruptEntry if it is unreadable or not an object."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CorruptEntry(f"metadata {path} is unreadable ({err})") from err
    if not isinstance(meta, dict):
        raise CorruptEntry(f"metadata {path} holds a {type(meta).__name__}, not a JSON object")
    return meta


class Zoo:
    """Load-or-train access to models; one instance per process, memoised in memory too."""

    def __init__(self, root: str | Path | None = None, device: str | torch.device | None = None,
                 log: Optional[Callable[[str], None]] = None, pretrained: Path | None | str = "default"):
        self.root = Path(root) if root is not None else default_root()
        #: shipped weights to copy a missing spec from (None: train it)
        self.pretrained = pretrained_root() if pretrained == "default" else (Path(pretrained) if pretrained else None)
        check_root(self.root)
        self.device = devices.resolve(device)
        self.log = log if log is not None else logger.info
        self._memo: Dict[str, Tuple[CutModel, dict]] = {}
        self.trained: List[str] = []  # string ids trained by this instance (for tests and progress)
        self.shipped: List[str] = []  # string ids copied from the shipped weights by this instance

    def paths(self, spec: ModelSpec) -> Tuple[Path, Path]:
        return self.root / f"{spec.key}.pt", self.root / f"{spec.key}.json"

    def get(self, spec: ModelSpec) -> Tuple[CutModel, dict]:
        """The trained model for ``spec`` (frozen, eval mode) and its metadata."""
        if spec.key not in self._memo:
            ckpt, _ = self.paths(spec)
            lock = FileLock(str(ckpt) + ".lock")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                lock.acquire()
            except OSError as err:  # a read-only cache: nobody can write it, so read it unlocked
                entry = self._read_only(spec, err)
            else:
                try:
                    entry = self._read_or_train(spec)
                finally:
                    lock.release()
            self._remember(spec, entry)
        return self._memo[spec.key]

    def _remember(self, spec: ModelSpec, entry: Tuple[CutModel, dict]) -> None:
        model, meta = entry
        for p in model.parameters():
            p.requires_grad_(False)
        self._memo[spec.key] = (model.eval(), meta)

    def warm(self, specs: Sequence[ModelSpec], start: int = 0) -> int:
        """Train those of ``specs`` that are not cached, beginning at index ``start``, and skip any
        that another process is training right now (its lock is held): xdist workers of a cold run,
        each starting elsewhere in the list, then train different models side by side instead of
        queueing on the first one every testbed asks for. Returns how many this call trained."""
        before = len(self.trained)
        specs = list(specs)
        for spec in specs[start % max(1, len(specs)):] + specs[:start % max(1, len(specs))]:
            ckpt, meta = self.paths(spec)
            if spec.key in self._memo or (ckpt.exists() and meta.exists()):
                continue  # cached (a corrupt entry is retrained when asked for)
            try:
                with FileLock(str(ckpt) + ".lock", timeout=0):
                    self._remember(spec, self._read_or_train(spec))
            except (Timeout, OSError):  # being trained elsewhere, or a read-only cache: get() decides
                continue
        return len(self.trained) - before

    def model(self, spec: ModelSpec) -> CutModel:
        return self.get(spec)[0]

    def _read_or_train(self, spec: ModelSpec) -> Tuple[CutModel, dict]:
        try:
            return self._read(spec)
        except CorruptEntry as err:
            if self.paths(spec)[0].exists():
                warnings.warn(f"zoo: {err}; retraining {spec.string_id()}", stacklevel=3)
        if self._copy_shipped(spec):
            try:
                return self._read(spec)
            except CorruptEntry as err:  # a damaged installation: train it, as without shipped weights
                warnings.warn(f"zoo: shipped {err}; training {spec.string_id()}", stacklevel=3)
        return self._train_and_write(spec)

    def _copy_shipped(self, spec: ModelSpec) -> bool:
        """Copy the shipped entry of ``spec``'s key into the cache, as training would have written it
        (the metadata says where it came from); False where none is shipped."""
        if self.pretrained is None:
            return False
        packed, shipped_meta = self.pretrained / f"{spec.key}.pt.xz", self.pretrained / f"{spec.key}.json"
        if not packed.is_file() or not shipped_meta.is_file():
            return False
        try:
            meta = _metadata(shipped_meta)
            data = lzma.decompress(packed.read_bytes())
        except (CorruptEntry, lzma.LZMAError, OSError) as err:
            warnings.warn(f"zoo: shipped entry {packed} is unreadable ({err}); training {spec.string_id()}",
                          stacklevel=4)
            return False
        meta["shipped"] = {"cpu": meta.get("cpu", "unrecorded"), "torch": meta.get("versions", {}).get("torch", "?")}
        ckpt, meta_path = self.paths(spec)
        atomic_write(ckpt, lambda p: p.write_bytes(data))
        atomic_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2, sort_keys=True)))
        self.shipped.append(spec.string_id())
        self.log(f"zoo: {spec.string_id()} from the shipped weights (trained on {meta['shipped']['cpu']}, "
                 f"torch {meta['shipped']['torch']})")
        return True

    def _read_only(self, spec: ModelSpec, err: OSError) -> Tuple[CutModel, dict]:
        try:
            return self._read(spec)
        except CorruptEntry as missing:
            raise CacheError(f"model cache {self.root} cannot be written ({err}), and {spec.string_id()} is not "
                             f"usable there ({missing}); make the cache writable, or set STITCHTEST_CACHE to a "
                             f"writable directory") from None

    def _read(self, spec: ModelSpec) -> Tuple[CutModel, dict]:
        ckpt, meta_path = self.paths(spec)
        if not ckpt.is_file() or not meta_path.is_file():
            raise CorruptEntry(f"{ckpt} or its metadata is missing")
        meta = _metadata(meta_path)
        if meta.get("spec") != spec.string_id() or meta.get("sha256") != _sha256(ckpt):
            raise CorruptEntry(f"checkpoint {ckpt} does not match its metadata (partial or corrupt file)")
        try:
            state = torch.load(ckpt, map_location=self.device, weights_only=True)
            model = build(spec.arch, spec.width, meta["in_channels"], meta["num_classes"]).to(self.device)
            model.load_state_dict(state)
        except Exception as err:  # any unreadable checkpoint is retrained, never fatal
            raise CorruptEntry(f"checkpoint {ckpt} is unreadable ({type(err).__name__}: {err})") from err
        return model.eval(), meta

    def _train_and_write(self, spec: ModelSpec) -> Tuple[CutModel, dict]:
        self.log(f"zoo: training {spec.string_id()} on {self.device}")
        # callers may hold no_grad; training needs gradients. On CPU, one thread: float sums are
        # ordered by the thread count, so a model trained by a 2-thread process and by a worker
        # of `-n 2` (1 thread) would differ, and reports and baselines would depend on who
        # trained first. One thread is what every xdist worker on a 2-core machine has anyway.
        with torch.enable_grad(), devices.threads(1 if self.device.type == "cpu" else None):
            model, meta = train_model(spec, self.device, self.log)
        ckpt, meta_path = self.paths(spec)
        atomic_write(ckpt, lambda p: torch.save(model.state_dict(), p))
        meta["sha256"] = _sha256(ckpt)
        atomic_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2, sort_keys=True)))
        self.trained.append(spec.string_id())
        self.log(f"zoo: {spec.string_id()} clean {meta['clean_accuracy']:.3f} "
                 f"robust {meta['robust_accuracy']:.3f} in {meta['train_seconds']:.1f}s")
        return model, meta

    def prune(self) -> List[Path]:
        """Delete what can never be loaded again: leftover temporary files, checkpoints without
        metadata (or the reverse), entries whose checksum does not match, and entries from an
        older training recipe. Returns the deleted paths. Only files of the zoo's own format go
        (a ``<key>.json`` only if it is the zoo's metadata for that key: a user's file of that
        name, or one no longer readable, stays), and never those of an entry whose lock is held
        (being trained or read right now)."""
        removed: List[Path] = []
        for key in sorted({k for p in self.root.iterdir() if (k := _entry_key(p))} if self.root.is_dir() else ()):
            lock = FileLock(str(self.root / f"{key}.pt.lock"), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                continue
            except OSError as err:
                raise CacheError(f"model cache {self.root} cannot be written ({err}), so nothing more can be "
                                 f"pruned; make it writable first") from None
            try:
                removed += self._prune_entry(key)
            finally:
                lock.release()
        return removed

    def _prune_entry(self, key: str) -> List[Path]:
        ckpt, meta_path = self.root / f"{key}.pt", self.root / f"{key}.json"
        doomed = [p for p in self.root.glob(f"{key}.*.tmp") if _entry_key(p)]  # nobody writes them now
        try:
            meta = _metadata(meta_path)
        except CorruptEntry:
            meta = {}
        # the metadata is ours by what we wrote in it (its spec, its key), not by its name: a user's
        # 0123456789ab.json stays
        ours = isinstance(meta.get("spec"), str) and meta.get("key") in (None, key)
        keep = (ours and ckpt.is_file() and meta.get("recipe_version") == RECIPE_VERSION
                and meta.get("sha256") == _sha256(ckpt))
        if not keep:
            doomed += [p for p in ((ckpt, meta_path) if ours else (ckpt,)) if _entry_key(p)]
        for p in doomed:
            p.unlink()
        return doomed

    def entries(self) -> List[dict]:
        """Metadata of every cached model (for ``stitchtest zoo``); corrupt entries are left out."""
        out = []
        for p in sorted(self.root.glob("*.json")) if self.root.is_dir() else ():
            try:
                meta = _metadata(p) if _entry_key(p) else None
            except CorruptEntry:
                continue
            if meta is not None and all(k in meta for k in ("spec", "clean_accuracy", "robust_accuracy",
                                                             "train_seconds", "device")):
                out.append(meta)
        return out

    def export(self, specs: Sequence[ModelSpec], dest: str | Path) -> List[Path]:
        """Write ``specs``' entries (trained here first where the cache lacks them) to ``dest`` as
        shipped weights, replacing the entries already there; returns the written paths.

        Each entry's metadata names the CPU and torch that trained it; an entry from before the
        metadata recorded its CPU is taken as trained on this machine's (said in the log)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        keep = {spec.key for spec in specs}
        for p in dest.iterdir():
            match = re.match(r"^([0-9a-f]{12})\.(pt\.xz|json)$", p.name)
            if match and match.group(1) not in keep:
                p.unlink()
        written: List[Path] = []
        for spec in specs:
            _, meta = self.get(spec)
            ckpt, _ = self.paths(spec)
            meta = {k: v for k, v in meta.items() if k != "shipped"}
            if "cpu" not in meta:
                meta["cpu"] = devices.cpu_name()
                self.log(f"zoo: {spec.string_id()} did not record its CPU; taken as this machine's ({meta['cpu']})")
            packed, meta_path = dest / f"{spec.key}.pt.xz", dest / f"{spec.key}.json"
            atomic_write(packed, lambda p: p.write_bytes(lzma.compress(ckpt.read_bytes(), preset=9 | lzma.PRESET_EXTREME)))
            atomic_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n"))
            written += [packed, meta_path]
        return written


def model_ids(cell_id: str) -> List[str]:
    """The model string ids inside a cell's id (``cell(sender=model(...),...)``): nested parentheses,
    so matched by counting, not by a regular expression."""
    out, start = [], cell_id.find("model(")
    while start >= 0:
        depth, end = 0, start + len("model")
        for end in range(end, len(cell_id)):
            depth += {"(": 1, ")": -1}.get(cell_id[end], 0)
            if depth == 0:
                break
        out.append(cell_id[start:end + 1])
        start = cell_id.find("model(", end)
    return out


def provenance(root: Path, model_ids: Sequence[str]) -> str:
    """Where a run's models came from, for its run configuration: ``24 models: 24 shipped (trained on
    <CPU>, torch <v>), 0 trained here``; from the cache's metadata of those models."""
    shipped: Dict[str, int] = {}
    here = 0
    for sid in dict.fromkeys(model_ids):
        try:
            meta = _metadata(Path(root) / f"{key_of(sid)}.json")
        except CorruptEntry:
            meta = {}
        if isinstance(meta.get("shipped"), dict):
            origin = f"trained on {meta['shipped'].get('cpu')}, torch {meta['shipped'].get('torch')}"
            shipped[origin] = shipped.get(origin, 0) + 1
        else:
            here += 1
    parts = [f"{n} shipped ({origin})" for origin, n in shipped.items()] + [f"{here} trained here"]
    return f"{len(dict.fromkeys(model_ids))} models: " + ", ".join(parts)
