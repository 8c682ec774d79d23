"""Which space a group acts on by default, and building spaces from strings (configs, the CLI).

``make_space("SE2(alpha=0.2)")`` is SE2's default space (R²); a space class can be named too, with
its group as an argument: ``make_space("SO3Space(SO3(alpha=0.5))")``.
"""

from __future__ import annotations

import ast

from ..groups.base import LieGroup
from ..groups.registry import GROUPS, literal, make_group, parse_call
from .base import HomogeneousSpace

SPACES: dict[str, type[HomogeneousSpace]] = {}
DEFAULT_SPACES: dict[type[LieGroup], type[HomogeneousSpace]] = {}


def register_space(cls: type[HomogeneousSpace], *default_for: type[LieGroup]) -> type[HomogeneousSpace]:
    """Make a space constructible by name, and the default space of the groups default_for."""
    SPACES[cls.__name__] = cls
    for group_class in default_for:
        DEFAULT_SPACES[group_class] = cls
    return cls


def space_names() -> list[str]:
    return sorted(SPACES)


def default_space(group: LieGroup) -> HomogeneousSpace:
    """The space `group` acts on unless told otherwise (R^d or the part of it the group acts on),
    shown as the group itself."""
    for cls in type(group).__mro__:
        if cls in DEFAULT_SPACES:
            space = DEFAULT_SPACES[cls](group)
            space.is_default = True
            return space
    raise ValueError(f"{group!r} has no default space; build a space for it (lieformer.spaces)")


def make_space(spec: "str | LieGroup | HomogeneousSpace") -> HomogeneousSpace:
    """A space from a space, a group (its default space) or a string naming either."""
    if isinstance(spec, HomogeneousSpace):
        return spec
    if isinstance(spec, LieGroup):
        return spec.space
    if not isinstance(spec, str):
        raise TypeError(f"a space is a HomogeneousSpace, a LieGroup or a string such as 'SE3(alpha=0.2)', "
                        f"got {type(spec).__name__}")
    name, args, kwargs = parse_call(spec, "group or space")
    if name in GROUPS or name not in SPACES:
        if name not in GROUPS:
            raise ValueError(f"unknown group {name!r}; valid groups: {', '.join(sorted(GROUPS))} "
                             f"(or a space: {', '.join(space_names())})")
        return make_group(spec).space

    def value(node: ast.expr):
        is_group = isinstance(node, ast.Name) and node.id in GROUPS or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in GROUPS)
        return make_group(ast.unparse(node)) if is_group else literal(node, spec, "space")

    try:
        return SPACES[name](*[value(a) for a in args], **{k: value(v) for k, v in kwargs.items()})
    except TypeError as err:
        raise ValueError(f"space {spec!r}: {err}") from err
