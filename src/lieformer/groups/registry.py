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


def parse_call(spec: str, what: str) -> tuple[str, list[ast.expr], dict[str, ast.expr]]:
    """``"Name(a, k=v)"`` or ``"Name"`` → (name, argument nodes, keyword nodes)."""
    example = "'SE3(alpha=0.2)' or 'T(2)'"
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"cannot parse {what} {spec!r}: expected e.g. {example}") from err
    if isinstance(node, ast.Name):
        return node.id, [], {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id, list(node.args), {k.arg: k.value for k in node.keywords}
    raise ValueError(f"cannot parse {what} {spec!r}: expected e.g. {example}")


def literal(node: ast.expr, spec: str, what: str):
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise ValueError(f"{what} {spec!r}: arguments must be literals (numbers, strings)") from err


def make_group(spec: "str | LieGroup") -> LieGroup:
    """``"SE3(alpha=0.2)"`` → SE3(alpha=0.2). A bare name (``"SO2"``) uses the defaults.

    Arguments must be Python literals. Unknown names raise ValueError listing the valid ones.
    """
    if isinstance(spec, LieGroup):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a group is a LieGroup or a string such as 'SE3(alpha=0.2)', got {type(spec).__name__}")
    name, args, kwargs = parse_call(spec, "group")
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; valid groups: {', '.join(group_names())}")
    args = [literal(a, spec, "group") for a in args]
    kwargs = {k: literal(v, spec, "group") for k, v in kwargs.items()}
    try:
        return GROUPS[name](*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"group {spec!r}: {err}") from err
