"""Flow templates: `{root.sub.key}` placeholders resolved by plain dictionary lookup only."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeAlias

# `{{` and `}}` are escaped braces, `{...}` a placeholder, a lone brace an error.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SPEC = re.compile(r"[:!]")
_MISSING = object()


class TemplateSyntaxError(ValueError):
    """A template that is not literal text with `{dotted.path}` placeholders."""


class SafeHtml(str):
    """Text that is already HTML (e.g. the asset overview); inserted into HTML bodies unescaped."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class _Placeholder:
    path: str


def _placeholder(inner: str) -> _Placeholder:
    if _PATH.fullmatch(inner):
        return _Placeholder(inner)
    if not inner.strip():
        raise TemplateSyntaxError(f"empty placeholder {{{inner}}}")
    if _PATH.fullmatch(_SPEC.split(inner, maxsplit=1)[0]):
        raise TemplateSyntaxError(
            f"invalid placeholder {{{inner}}}: format specs and conversions are not supported"
        )
    raise TemplateSyntaxError(
        f"invalid placeholder {{{inner}}}: expected a dotted name such as {{order.name}};"
        " write '{{' and '}}' for literal braces"
    )


@lru_cache(maxsize=128)
def _parse(text: str) -> tuple[str | _Placeholder, ...]:
    tokens: list[str | _Placeholder] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            tokens.append(text[position : match.start()])
        token = match.group()
        if token in ("{{", "}}"):
            tokens.append(token[0])
        elif match.group(1) is not None:
            tokens.append(_placeholder(match.group(1)))
        else:
            where = f"single {token!r} at position {match.start()}"
            raise TemplateSyntaxError(f"{where}; write {token * 2!r} for a literal brace")
        position = match.end()
    if position < len(text):
        tokens.append(text[position:])
    return tuple(tokens)


def placeholders(text: str) -> list[str]:
    """The placeholder paths of a template, in order of first appearance, without repeats.

    Raises TemplateSyntaxError when the text is not a valid template.
    """
    paths = (token.path for token in _parse(text) if isinstance(token, _Placeholder))
    return list(dict.fromkeys(paths))


# The shape of a template context, to check paths before anything is rendered: a mapping
# names its keys; TEXT is a value without keys, LIST a list (rendered whole: no indexing),
# ANY_KEYS an object whose keys the shop chooses (its `data`).
TEXT: Literal["text"] = "text"
LIST: Literal["list"] = "list"
ANY_KEYS: Literal["any keys"] = "any keys"
Shape: TypeAlias = "Literal['text', 'list', 'any keys'] | Mapping[str, Shape]"
ContextShape: TypeAlias = Mapping[str, Shape]


def path_problem(shape: ContextShape, path: str) -> str | None:
    """Why a placeholder path names nothing in a context of this shape; None if it may."""
    node: Shape = shape
    for depth, segment in enumerate(path.split(".")):
        where = ".".join(path.split(".")[:depth])
        if node == ANY_KEYS:
            if segment.startswith("__"):
                return f"names starting with '__' are refused in {{{path}}}"
            continue
        if isinstance(node, Mapping):
            if segment not in node:
                owner = f"{where} has" if where else "known roots are"
                return f"unknown key {segment!r} in {{{path}}}; {owner}: {', '.join(node)}"
            node = node[segment]
            continue
        kind = "a list: it renders whole, without indexing" if node == LIST else "a plain value"
        return f"{{{path}}} names nothing: {where} is {kind}"
    return None


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    node: Any = context
    for segment in path.split("."):
        if not isinstance(node, Mapping) or segment not in node:
            return _MISSING
        node = node[segment]
    return _MISSING if node is None else node


def _format(value: Any, *, html: bool) -> str:
    if html and hasattr(value, "__html__"):
        return str(value.__html__())
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return html_lib.escape(text, quote=True) if html else text


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text


def render(
    text: str, context: Mapping[str, Any], *, html: bool, header: bool
) -> tuple[str, list[str]]:
    """Render a template; returns the text and the paths that had no value (rendered empty).

    Values are HTML-escaped when `html` (unless they provide `__html__`). With `header`, a
    result holding CR or LF raises ValueError, so values cannot inject header lines.
    """
    parts: list[str] = []
    missing: list[str] = []
    for token in _parse(text):
        if isinstance(token, str):
            parts.append(token)
            continue
        value = _lookup(context, token.path)
        if value is _MISSING:
            missing.append(token.path)
            continue
        rendered = _format(value, html=html)
        if header and _has_line_break(rendered):
            raise ValueError(f"the value of {{{token.path}}} contains CR or LF")
        parts.append(rendered)
    result = "".join(parts)
    if header and _has_line_break(result):
        raise ValueError("a header field must not contain CR or LF")
    return result, list(dict.fromkeys(missing))
