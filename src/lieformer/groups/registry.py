"""Build groups from strings such as ``"SE3(alpha=0.2)"`` or ``"T(2)"`` (configs, the CLI)."""

from __future__ import annotations

import ast

from .base import LieGroup

GROUPS: dict[str, type[LieGroup]] = {}


def register(cls: type[LieGroup]) -> type[LieGroup]:
    """Class decorator: make a group constructible by name."""
    GROUPS[cls.__name__] = cls
    return cls


def group_names() -> list[str]:
    return sorted(GROUPS)


def make_group(spec: "str | LieGroup") -> LieGroup:
    """``"SE3(alpha=0.2)"`` → SE3(alpha=0.2). A bare name (``"SO2"``) uses the defaults.

    Arguments must be Python literals. Unknown names raise ValueError listing the valid ones.
    """
    if isinstance(spec, LieGroup):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a group is a LieGroup or a string such as 'SE3(alpha=0.2)', got {type(spec).__name__}")
    text = spec.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"cannot parse group {spec!r}: expected e.g. 'SE3(alpha=0.2)' or 'T(2)'") from err
    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, [], {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError as err:
            raise ValueError(f"group {spec!r}: arguments must be literals (numbers, strings)") from err
    else:
        raise ValueError(f"cannot parse group {spec!r}: expected e.g. 'SE3(alpha=0.2)' or 'T(2)'")
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; valid groups: {', '.join(group_names())}")
    try:
        return GROUPS[name](*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"group {spec!r}: {err}") from err
