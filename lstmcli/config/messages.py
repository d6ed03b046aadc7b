"""Config error messages: pydantic's errors rewritten as `<key.path>: expected …, got …`."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)


class KeyedError(ValueError):
    """A cross-field error that knows the key path it belongs to."""

    def __init__(self, key: str, message: str, more: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.items = [(key, message), *(more or [])]


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "path_type": "a file path (string)",
    "int_from_float": "an integer",
}


def kind_of(value: Any, *, json: bool = False) -> str:
    """How a received value is named in messages: `boolean true`, `integer 3`, `a list` …
    (in JSON's words with json=True: numbers are `number`, mappings are `an object`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float) and json:
        return f"number {value}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object" if json else "a mapping"
    return type(value).__name__


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds the member type of a union to the location ("str", "list[str]"): drop it.
    # A user's own key may hold "[" (`0[: 1`): only pydantic's type tags (`list[str]`) go.
    return tuple(
        p
        for p in loc
        if not (isinstance(p, str) and (p in ("str", "list", "chrono_lag") or _TYPE_TAG.fullmatch(p)))
    )


_TYPE_TAG = re.compile(r"[a-z]+\[[a-z_\[\], |]+\]")


def _known_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    model: type[BaseModel] = root
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        found = _model_in(getattr(field, "annotation", None))
        if found is None:
            return []
        model = found
    return list(model.model_fields)


def _model_in(ann: Any) -> type[BaseModel] | None:
    """The section model an annotation holds, also inside a union (`forget_bias`'s `{chrono: N}`)."""
    from typing import get_args

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in get_args(ann):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def messages_of(e: ValidationError, root: type[BaseModel]) -> list[str]:
    """`root` is the schema's top model (`Config`), passed in so this module needs no schema."""
    msgs: list[str] = []
    for err in e.errors():
        loc = _clean_loc(tuple(err["loc"]))
        key = _path(loc) or "(top level)"
        etype = err["type"]
        value = err.get("input")
        ctx = err.get("ctx") or {}
        if etype == "extra_forbidden":
            known = _known_keys(loc, root)
            name = str(err["loc"][-1])
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean {_path(loc[:-1] + (close[0],))!r}?)" if close else ""
            msgs.append(f"{key}: expected one of {', '.join(known)}, got unknown key {name!r}{hint}")
            continue
        if etype == "missing":
            msgs.append(f"{key}: expected a value, got nothing (required key is missing)")
            continue
        if etype == "value_error":
            exc = ctx.get("error")
            if isinstance(exc, KeyedError):
                msgs.extend(f"{k}: {m}" for k, m in exc.items)
                continue
            text = str(exc) if exc is not None else err["msg"].removeprefix("Value error, ")
            msgs.append(f"{key}: {text}")
            continue
        if etype == "literal_error":
            msgs.append(
                f"{key}: expected {ctx.get('expected', 'one of the allowed values')}, got {kind_of(value)}"
            )
            continue
        if etype in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
                etype
            ]
            bound = next(iter(ctx.values()), "")
            msgs.append(f"{key}: expected a value {op} {bound}, got {value}")
            continue
        if etype in _EXPECTED:
            # A union (str | list[str]) reports once per member: keep the member that fits.
            branch = next((p for p in err["loc"] if isinstance(p, str) and p not in loc), None)
            if branch == "str" and isinstance(value, list):
                continue
            if branch is not None and etype == "list_type":
                continue
            expected = "a string or a list of tokens" if branch == "str" else _EXPECTED[etype]
            msgs.append(f"{key}: expected {expected}, got {kind_of(value)}")
            continue
        msgs.append(f"{key}: {err['msg']}, got {kind_of(value)}")
    return msgs
