"""Routing rules: which model (and method, target, outputs) explains which series.

A routes file is TOML with an ordered list of ``[[rule]]`` tables. Each rule has a
``name``, optional *conditions* (all must hold) and one *action*: ``model`` (with
optional ``method``, ``target``, ``outputs``, ``priority``) or ``skip`` (a reason).
``model`` is a built-in name or the path of a model spec or TorchScript file
(``.json``, ``.toml``, ``.pt``, ``.ts``); a relative path is taken from the routes
file's folder.
The first rule whose conditions all hold wins; a series no rule matches is skipped
as ``not_routed`` (never a failure). Example::

    [[rule]]
    name = "scouts"
    image_type = ["LOCALIZER"]
    skip = "localizer"

    [[rule]]
    name = "chest-ct"
    modality = ["CT"]
    slices = [16, 4000]
    in_model_scope = true
    model = "demo-ct3d"
    method = "gradcam"

Conditions (absent: no constraint):

* ``modality``, ``body_part``, ``sop_class_uid``: lists of accepted values (upper-case
  comparison for the first two; an empty string in ``body_part`` accepts a series
  without Body Part Examined);
* ``series_description``, ``protocol_name``: a regular expression searched
  case-insensitively;
* ``image_type``: values that must all be present in Image Type;
* ``slices``: ``[min, max]`` number of instances; ``pixel_spacing_mm``: ``[min, max]``
  of the in-plane spacing (both values of Pixel Spacing must lie in the range);
* ``in_model_scope``: ``true`` requires the rule's model spec to accept the series'
  modality and body part (its declared scope).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medcam.errors import RoutesError

__all__ = ["Routes", "Rule", "load_routes", "parse_routes"]

_CONDITIONS = {"modality", "body_part", "sop_class_uid", "series_description",
               "protocol_name", "image_type", "slices", "pixel_spacing_mm",
               "in_model_scope"}
_ACTIONS = {"model", "method", "target", "outputs", "priority", "skip"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
_MODEL_FILE_SUFFIXES = (".json", ".toml", ".pt", ".ts")


def _is_model_file(value: str) -> bool:
    """A model given as a spec/TorchScript path (printable, at most 1024 characters)."""
    return (len(value) <= 1024 and value.isprintable()
            and Path(value).suffix.lower() in _MODEL_FILE_SUFFIXES)


@dataclass(frozen=True)
class Rule:
    """One rule: conditions and an action (``model`` or ``skip``), valid once built."""

    name: str
    model: str | None = None
    method: str | None = None
    target: str | None = None
    outputs: str | None = None
    priority: int = 0
    skip: str | None = None
    modality: tuple[str, ...] = ()
    body_part: tuple[str, ...] = ()
    sop_class_uid: tuple[str, ...] = ()
    series_description: str | None = None
    protocol_name: str | None = None
    image_type: tuple[str, ...] = ()
    slices: tuple[int, int] | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    in_model_scope: bool = False

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise RoutesError(f"rule name {self.name!r} must be 1-64 letters, digits or _.+-")
        if (self.model is None) == (self.skip is None):
            raise RoutesError(f"rule {self.name!r}: give exactly one of 'model' and 'skip'")
        if self.skip is not None and any(
                v is not None for v in (self.method, self.target, self.outputs)):
            raise RoutesError(f"rule {self.name!r}: a 'skip' rule takes no method, target "
                              "or outputs")
        if self.in_model_scope and self.model is None:
            raise RoutesError(f"rule {self.name!r}: 'in_model_scope' needs a 'model'")
        for key in ("model", "method", "target"):
            value = getattr(self, key)
            if value is None or _NAME.fullmatch(value) or (key == "model"
                                                          and _is_model_file(value)):
                continue
            raise RoutesError(f"rule {self.name!r}: {key} {value!r} is not a plain name"
                              + (" or a model spec file" if key == "model" else ""))
        for key in ("series_description", "protocol_name"):
            pattern = getattr(self, key)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise RoutesError(f"rule {self.name!r}: {key} is not a valid regular "
                                      f"expression ({exc.msg})") from None
        for key in ("slices", "pixel_spacing_mm"):
            bounds = getattr(self, key)
            if bounds is not None and not 0 <= bounds[0] <= bounds[1]:
                raise RoutesError(f"rule {self.name!r}: {key} must be [min, max] with "
                                  "0 <= min <= max")
        for key in ("modality", "body_part", "image_type"):
            object.__setattr__(self, key, tuple(v.strip().upper() for v in getattr(self, key)))

    @property
    def conditions(self) -> dict[str, Any]:
        """The conditions this rule sets (for reports)."""
        return {k: getattr(self, k) for k in sorted(_CONDITIONS)
                if getattr(self, k) not in (None, (), False)}


@dataclass(frozen=True)
class Routes:
    """Ordered rules; the first match wins."""

    rules: tuple[Rule, ...]
    source: str = "built-in"

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise RoutesError("rule names must be unique")
        object.__setattr__(self, "rules", tuple(self.rules))

    @property
    def models(self) -> tuple[str, ...]:
        """Every model a rule can route to."""
        return tuple(dict.fromkeys(r.model for r in self.rules if r.model is not None))


def _strings(where: str, key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RoutesError(f"{where}: {key} must be a string or a list of strings")
    return tuple(value)


def _range(where: str, key: str, value: object, kind: type) -> tuple[Any, Any]:
    numbers = (int,) if kind is int else (int, float)
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, numbers) and not isinstance(v, bool) for v in value)):
        raise RoutesError(f"{where}: {key} must be [min, max] ({kind.__name__} values)")
    return kind(value[0]), kind(value[1])


def _rule(index: int, table: object, base_dir: Path | None) -> Rule:
    where = f"rule {index + 1}"
    if not isinstance(table, Mapping):
        raise RoutesError(f"{where}: must be a table")
    name = table.get("name")
    if not isinstance(name, str):
        raise RoutesError(f"{where}: needs a 'name' (a string)")
    where = f"rule {index + 1} ({name[:64]!r})"
    unknown = sorted(set(table) - _CONDITIONS - _ACTIONS - {"name"})
    if unknown:
        raise RoutesError(f"{where}: unknown key {unknown[0]!r}")
    kwargs: dict[str, Any] = {"name": name}
    for key in ("model", "method", "target", "outputs", "skip", "series_description",
                "protocol_name"):
        if key in table:
            if not isinstance(table[key], str):
                raise RoutesError(f"{where}: {key} must be a string")
            kwargs[key] = table[key]
    model = kwargs.get("model")
    if (base_dir is not None and model is not None and _is_model_file(model)
            and not Path(model).is_absolute()):
        kwargs["model"] = str(base_dir / model)
    for key in ("modality", "body_part", "sop_class_uid", "image_type"):
        if key in table:
            kwargs[key] = _strings(where, key, table[key])
    if "slices" in table:
        kwargs["slices"] = _range(where, "slices", table["slices"], int)
    if "pixel_spacing_mm" in table:
        kwargs["pixel_spacing_mm"] = _range(where, "pixel_spacing_mm",
                                            table["pixel_spacing_mm"], float)
    for key, kind in (("priority", int), ("in_model_scope", bool)):
        if key in table:
            if type(table[key]) is not kind:
                raise RoutesError(f"{where}: {key} must be {kind.__name__}")
            kwargs[key] = table[key]
    try:
        return Rule(**kwargs)
    except RoutesError as exc:
        raise RoutesError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None


def parse_routes(text: str, source: str = "<text>", base_dir: Path | None = None) -> Routes:
    """Parse a routes file's text; relative model file paths are taken from ``base_dir``.

    Raises:
        RoutesError: a TOML syntax error (with its line), no rules, or a bad rule.

    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutesError(f"routes file is not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise RoutesError(f"routes file: unknown top-level key {unknown[0]!r} "
                          "(rules are [[rule]] tables)")
    tables = data.get("rule")
    if not isinstance(tables, list) or not tables:
        raise RoutesError("routes file holds no [[rule]] table")
    return Routes(tuple(_rule(i, t, base_dir) for i, t in enumerate(tables)), source)


def load_routes(path: Path | str | None = None) -> Routes:
    """Load a routes file, or the built-in default routes when ``path`` is ``None``.

    Raises:
        RoutesError: the file is missing or unreadable, or :func:`parse_routes` fails.

    """
    if path is None:
        default = Path(__file__).with_name("default.toml")
        return parse_routes(default.read_text(encoding="utf-8"), "built-in")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutesError(f"cannot read the routes file ({type(exc).__name__})") from None
    return parse_routes(text, Path(path).name, Path(path).absolute().parent)
