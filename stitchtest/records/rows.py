"""What a results file holds: one typed record per line, and the settings of the run.

A row on disk is a JSON object whose ``kind`` says which record it is: a :class:`CellRow` (one
cell's readouts), a :class:`CheckRow` (a check's outcome), an :class:`ExhibitRow` (a reported
table or image grid) or a :class:`RunRow` (the run's :class:`RunSettings`). :meth:`Record.from_json`
is the one place a row is read and :meth:`Record.to_json` the one place one is written, so the
report, the baseline comparison, the export and the testbeds read attributes, never string keys.

The JSON is what stitchtest has always written: the same field names, a cell's key unchanged,
so results of earlier runs load (and ``--stitch-resume`` continues them). A field this version
does not know (a row of a newer stitchtest) is kept in ``extra`` and written back unchanged, so
nothing is lost by a round trip; a field a record needs that is missing, or a ``kind`` that is
none of these, is a :class:`ResultsError` naming where the row came from.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

R = TypeVar("R", bound="Record")


class ResultsError(ValueError):
    """A malformed results or baseline file; the message names the file and line."""


#: ``kind`` -> record class (:func:`_kind` fills it)
KINDS: Dict[str, Type["Record"]] = {}


def _kind(name: str):
    def register(cls):
        cls.kind = name
        KINDS[name] = cls
        return cls
    return register


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively: what JSON gives back, so a round trip compares equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _required(cls) -> List[str]:
    return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]


def _names(cls) -> List[str]:
    return [f.name for f in fields(cls) if f.name != "extra"]


class Record:
    """A row of a results file. Subclasses are frozen dataclasses whose fields are the row's JSON
    fields (plus ``extra``: fields this version does not know, kept for the round trip)."""

    kind: ClassVar[str]
    #: fields left out of the JSON when ``None``: a baseline drops them, an older run lacks them
    OMITTED_WHEN_NONE: ClassVar[Tuple[str, ...]] = ("worker", "time")

    key: str
    worker: Optional[str]
    time: Optional[float]
    extra: Dict[str, Any]

    def to_json(self) -> Dict[str, Any]:
        """The row as a JSON object (non-finite floats are the writer's business: ``results._dumps``)."""
        out: Dict[str, Any] = {"kind": self.kind}
        for name in _names(type(self)):
            value = getattr(self, name)
            if value is None and name in self.OMITTED_WHEN_NONE:
                continue
            out[name] = _plain(value)
        out.update(self.extra)
        return out

    @staticmethod
    def from_json(obj: Any, where: str = "a row") -> "Record":
        """The record ``obj`` (a parsed JSON object) is; ``where`` ("file:line") goes into errors."""
        if not isinstance(obj, dict):
            raise ResultsError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        for name in ("kind", "key"):
            if not isinstance(obj.get(name), str):
                raise ResultsError(f"{where}: missing string field {name!r}")
        cls = KINDS.get(obj["kind"])
        if cls is None:
            raise ResultsError(f"{where}: unknown row kind {obj['kind']!r} (this stitchtest reads "
                               f"{', '.join(sorted(KINDS))}); was it written by a newer stitchtest?")
        return cls._parse(obj, where)

    @classmethod
    def _parse(cls: Type[R], obj: Dict[str, Any], where: str) -> R:
        missing = [n for n in _required(cls) if n not in obj]
        if missing:
            raise ResultsError(f"{where}: a {cls.kind} row needs the field(s) {', '.join(missing)}")
        known = set(_names(cls))
        values = {n: v for n, v in obj.items() if n in known}
        row = cls(**values, extra={n: v for n, v in obj.items() if n not in known and n != "kind"})
        row._validate(where)
        return row

    def _validate(self, where: str) -> None:
        """Field types the readers rely on (a subclass adds its own)."""

    def stamped(self: R, worker: str, time: float) -> R:
        """With ``worker`` and ``time`` filled in where the row has none (a relayed row keeps its own)."""
        return replace(self, worker=self.worker if self.worker is not None else worker,
                       time=self.time if self.time is not None else time)


def _dict_field(row: Record, name: str, where: str) -> None:
    if not isinstance(getattr(row, name), dict):
        raise ResultsError(f"{where}: field {name!r} of a {row.kind} row must be a JSON object")


@_kind("cell")
@dataclass(frozen=True)
class CellRow(Record):
    """One cell's readouts: ``method`` on ``sender@sender_cut -> receiver@receiver_cut`` of
    ``testbed``, reported under ``pair`` and seed index ``seed``. ``cell`` (the cell's id) is
    also in the key; a baseline leaves it out."""

    OMITTED_WHEN_NONE: ClassVar[Tuple[str, ...]] = ("worker", "time", "cell")

    key: str
    testbed: str
    method: str
    pair: str
    seed: int
    sender_cut: str
    receiver_cut: str
    readouts: Dict[str, Any]
    method_id: Optional[str] = None
    cell: Optional[str] = None
    sender: Optional[str] = None
    receiver: Optional[str] = None
    sender_depth: Optional[float] = None
    receiver_depth: Optional[float] = None
    worker: Optional[str] = None
    time: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def _validate(self, where: str) -> None:
        _dict_field(self, "readouts", where)

    @property
    def method_label(self) -> str:
        """The method's full id where the row has one, else its name."""
        return self.method_id or self.method

    @property
    def failed(self) -> bool:
        return "failure" in self.readouts

    def readout(self, name: str) -> float:
        """One readout as a float; NaN when the cell failed, lacks it, or it is not a finite number
        (stored non-finite values read back as ``None``)."""
        v = self.readouts.get(name)
        if self.failed or isinstance(v, bool) or not isinstance(v, (int, float)):
            return float("nan")
        return float(v)


@_kind("check")
@dataclass(frozen=True)
class CheckRow(Record):
    """A check's outcome for one method: ``pass``, ``fail``, ``known-fail``, ``unexpected-pass`` or
    ``reported``, its figure and value, and its statistics per seed pair (for the claims)."""

    key: str
    testbed: str
    check: str
    method: str
    outcome: str
    readout: Optional[str] = None
    figure: str = ""
    value: Optional[float] = None
    better: str = "higher"
    reason: Optional[str] = None
    detail: Dict[str, Any] = field(default_factory=dict)
    per_seed: Dict[str, List[Optional[float]]] = field(default_factory=dict)
    worker: Optional[str] = None
    time: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def _validate(self, where: str) -> None:
        for name in ("detail", "per_seed"):
            _dict_field(self, name, where)


@_kind("exhibit")
@dataclass(frozen=True)
class ExhibitRow(Record):
    """A reported table (``{"headers", "rows"}``) or image grid (``{"labels", "images"}``) of a testbed."""

    key: str
    testbed: str
    name: str
    title: str = ""
    text: str = ""
    table: Optional[Dict[str, Any]] = None
    images: Optional[Dict[str, Any]] = None
    worker: Optional[str] = None
    time: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    """What a run was made with: the one description of a run's settings, stored in its ``run``
    row, checked by ``--stitch-resume`` (:attr:`RESUME`) and by a baseline comparison (:attr:`MATCH`),
    and the first lines of the report's run configuration.

    ``arch`` is ``None`` when the scale's family was audited (no ``--stitch-arch``); ``audited`` is
    ``None`` in a run row that did not record it; ``num_classes`` (the data's class count, for the
    report's chance level) is ``None`` in runs that predate it.
    """

    scale: str
    data: str
    seeds: int
    methods: str = "all"
    audited: Optional[Tuple[str, ...]] = None
    arch: Optional[str] = None
    num_classes: Optional[int] = None
    versions: Dict[str, str] = field(default_factory=dict)
    command: str = ""

    #: what two runs must agree on to be compared
    MATCH: ClassVar[Tuple[str, ...]] = ("scale", "data", "seeds", "arch")
    #: ... and what a resumed run must agree on too: a resumed report never mixes methods of two runs
    RESUME: ClassVar[Tuple[str, ...]] = MATCH + ("audited",)
    OMITTED_WHEN_NONE: ClassVar[Tuple[str, ...]] = ("audited", "arch", "num_classes")

    def __post_init__(self):
        if self.audited is not None and not isinstance(self.audited, tuple):
            object.__setattr__(self, "audited", tuple(self.audited))

    def differences(self, other: "RunSettings", names: Sequence[str]) -> List[str]:
        """``"<name> <other's value> (this run: <ours>)"`` for each of ``names`` that differs; a
        field ``other`` did not record (``audited`` of an old run) is not compared."""
        out = []
        for name in names:
            theirs, ours = getattr(other, name), getattr(self, name)
            if name == "audited" and theirs is None:
                continue
            if theirs != ours:
                show = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731  (as JSON has it)
                out.append(f"{name} {show(theirs)!r} (this run: {show(ours)!r})")
        return out

    def items(self) -> List[Tuple[str, Any]]:
        """(setting, value) in declaration order, unrecorded ones left out: the report's table."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)
                if not (getattr(self, f.name) is None and f.name in self.OMITTED_WHEN_NONE)]


@_kind("run")
@dataclass(frozen=True)
class RunRow(Record):
    """The run's settings, as the row every results directory and baseline carries (key ``run``;
    its fields are those of :class:`RunSettings`, at the top level of the JSON object)."""

    settings: RunSettings
    key: str = "run"
    worker: Optional[str] = None
    time: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"kind": self.kind, "key": self.key}
        out.update((name, _plain(value)) for name, value in self.settings.items())
        out.update((n, getattr(self, n)) for n in ("worker", "time") if getattr(self, n) is not None)
        out.update(self.extra)
        return out

    @classmethod
    def _parse(cls, obj: Dict[str, Any], where: str) -> "RunRow":
        missing = [n for n in _required(RunSettings) if n not in obj]
        if missing:
            raise ResultsError(f"{where}: a run row needs the field(s) {', '.join(missing)}")
        setting_names = {f.name for f in fields(RunSettings)}
        if obj.get("audited") is not None and not isinstance(obj["audited"], list):
            raise ResultsError(f"{where}: field 'audited' of a run row must be a list of method names")
        settings = RunSettings(**{n: v for n, v in obj.items() if n in setting_names})
        own = {"key", "worker", "time"}
        return cls(settings, **{n: obj[n] for n in own if n in obj},
                   extra={n: v for n, v in obj.items() if n not in setting_names | own | {"kind"}})


def of_kind(rows: Sequence[Record], cls: Type[R]) -> List[R]:
    """The rows that are ``cls`` records, in order."""
    return [r for r in rows if isinstance(r, cls)]


def run_of(rows: Sequence[Record]) -> Optional[RunRow]:
    """The run row among ``rows`` (``None`` without one)."""
    return next((r for r in rows if isinstance(r, RunRow)), None)


__all__ = ["CellRow", "CheckRow", "ExhibitRow", "KINDS", "Record", "ResultsError", "RunRow", "RunSettings",
           "of_kind", "run_of"]
