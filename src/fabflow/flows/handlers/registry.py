"""The handler registry: built-in handlers plus plugins from the `fabflow.handlers` group."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from pydantic import BaseModel

from fabflow.flows.handlers.base import Handler

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "fabflow.handlers"

# Built-in handlers of apps above flows (production, connectors): each app registers its own
# in AppConfig.ready(), so flows imports none of them.
_APP_HANDLERS: list[type[Handler]] = []


def register(*classes: type[Handler]) -> None:
    """Add built-in handlers of an app; call from its AppConfig.ready(), before any lookup."""
    if handlers.cache_info().currsize:
        raise RuntimeError("handlers are registered in AppConfig.ready(), before the first lookup")
    _APP_HANDLERS.extend(c for c in classes if c not in _APP_HANDLERS)


@cache
def handlers() -> dict[str, Handler]:
    """Every handler by key; a plugin may not replace a built-in handler."""
    from fabflow.flows.handlers.builtin import HANDLERS

    found: dict[str, Handler] = {cls.key: cls() for cls in [*HANDLERS, *_APP_HANDLERS]}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception:
            log.exception("could not load handler plugin %s", entry.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Handler)):
            log.error("plugin %s is not a fabflow Handler subclass", entry.value)
            continue
        if cls.key in found:
            log.error("plugin %s reuses the handler key %r; ignored", entry.value, cls.key)
            continue
        found[cls.key] = cls()
    return found


def payload_models() -> dict[str, type[BaseModel]]:
    return {key: handler.payload_model for key, handler in handlers().items()}


def get(key: str) -> Handler | None:
    return handlers().get(key)
