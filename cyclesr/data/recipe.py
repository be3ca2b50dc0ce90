"""The text and YAML forms of a degradation recipe, parsed into (step name, parameters) pairs.

Text form: steps separated by ">", each `name` or `name(key=value, ...)`:

    blur(sigma=0.2~2.0) > down(scale=4, mode=bicubic|bilinear|area) > noise(sigma=1~10) > jpeg(quality=30~60)

A value is a fixed number or word (`4`, `bicubic`), a range `a~b` (drawn uniformly per image)
or a choice `a|b|c` (one drawn per image). YAML form: a list whose items are such step
strings, `{name: {key: value}}` or `{step: name, key: value}` mappings; in YAML a two-number
list `[a, b]` is a range and any other list a choice. This module knows nothing of what the
steps do: `steps.py` validates names and parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = ["Fixed", "Range", "Choice", "Param", "parse_value", "parse_steps"]


@dataclass(frozen=True)
class Fixed:
    value: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def values(self) -> tuple:
        return (self.value,)

    def __str__(self) -> str:
        return _format_atom(self.value)


@dataclass(frozen=True)
class Range:
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def values(self) -> tuple:
        return (self.low, self.high)

    def __str__(self) -> str:
        return f"{_format_atom(self.low)}~{_format_atom(self.high)}"


@dataclass(frozen=True)
class Choice:
    options: tuple

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def values(self) -> tuple:
        return self.options

    def __str__(self) -> str:
        return "|".join(_format_atom(option) for option in self.options)


Param = Union[Fixed, Range, Choice]
_STEP_PATTERN = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def _format_atom(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parse_atom(text: str) -> Any:
    text = text.strip().strip("'\"")
    if not text:
        raise ValueError("empty value")
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_value(value: Any) -> Param:
    """A parameter value from text (`4`, `a~b`, `a|b`), a number, or a YAML list."""
    if isinstance(value, (Fixed, Range, Choice)):
        return value
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            return parse_value(f"{value[0]}~{value[1]}")
        return Choice(tuple(_parse_atom(str(v)) if isinstance(v, str) else v for v in value))
    if not isinstance(value, str):
        return Fixed(value)
    if "|" in value:
        return Choice(tuple(_parse_atom(part) for part in value.split("|")))
    if "~" in value:
        low, _, high = value.partition("~")
        low, high = _parse_atom(low), _parse_atom(high)
        if not all(isinstance(v, (int, float)) for v in (low, high)):
            raise ValueError(f"range {value!r} needs two numbers, like 0.5~2")
        if low > high:
            raise ValueError(f"range {value!r} has its low end above its high end")
        return Range(float(low), float(high))
    return Fixed(_parse_atom(value))


def _parse_step_text(text: str) -> tuple[str, dict[str, Param]]:
    match = _STEP_PATTERN.match(text)
    if not match:
        raise ValueError(f"cannot parse recipe step {text.strip()!r}; write it as name(key=value, ...)")
    name, args = match.group(1).lower(), (match.group(2) or "").strip()
    params: dict[str, Param] = {}
    for arg in filter(None, (a.strip() for a in args.split(","))):
        key, sep, value = arg.partition("=")
        if not sep:
            raise ValueError(f"step {name!r}: argument {arg!r} must be written key=value")
        try:
            params[key.strip().lower()] = parse_value(value)
        except ValueError as err:
            raise ValueError(f"step {name!r}, parameter {key.strip()!r}: {err}") from None
    return name, params


def _parse_mapping(item: dict) -> tuple[str, dict[str, Param]]:
    if "step" in item or "name" in item:
        name = item.get("step", item.get("name"))
        raw = {k: v for k, v in item.items() if k not in ("step", "name")}
    elif len(item) == 1:
        name, raw = next(iter(item.items()))
        raw = raw or {}
    else:
        raise ValueError(f"cannot read recipe step {item!r}: use {{name: {{key: value}}}} or {{step: name, ...}}")
    params = {}
    for key, value in raw.items():
        try:
            params[str(key).lower()] = parse_value(value)
        except ValueError as err:
            raise ValueError(f"step {name!r}, parameter {key!r}: {err}") from None
    return str(name).lower(), params


def parse_steps(spec: str | list | dict) -> list[tuple[str, dict[str, Param]]]:
    """Recipe text, YAML list, or `{steps: [...]}` -> list of (step name, parameters)."""
    if isinstance(spec, str):
        parts = [part for part in spec.split(">") if part.strip()]
        if not parts:
            raise ValueError("empty degradation recipe")
        return [_parse_step_text(part) for part in parts]
    if isinstance(spec, dict):
        if "steps" in spec:
            return parse_steps(spec["steps"])
        return [_parse_mapping({name: params}) for name, params in spec.items()]
    if isinstance(spec, (list, tuple)):
        steps = []
        for item in spec:
            steps += parse_steps(item) if isinstance(item, str) else [_parse_mapping(item)]
        if not steps:
            raise ValueError("empty degradation recipe")
        return steps
    raise TypeError(f"a recipe is a string, list or dict, not {type(spec).__name__}")
