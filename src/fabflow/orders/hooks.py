"""Hooks through which a higher app takes part in an order's life, without orders importing it.

Dependencies run one way (`flows` imports `orders`, never the reverse). The flows app
registers its `FlowHooks` in `FlowsConfig.ready()`: intake asks it to check an order's
`flowKey` before anything is written and to start the flow inside the order's transaction; the
order's JSON asks it for the task runs, the orders table for a page's current steps and
startable flows; the order page asks registered sections for their HTML. Without a registered
app, a `flowKey` is refused and an order has no tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fabflow.core.errors import Invalid

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.utils.safestring import SafeString

    from fabflow.accounts.models import Space
    from fabflow.orders.models import Order


@dataclass(frozen=True)
class FlowChoice:
    """A flow version chosen for an order: its name and number, and the app's own handle."""

    key: str
    version: int
    handle: Any


class FlowHooks(Protocol):
    """What orders ask the app that runs flows; the bodies are what happens without one."""

    def flow_for(self, *, space: Space, flow_key: str) -> FlowChoice:
        """The flow an order names by `flowKey`; raises `Invalid` naming the field."""
        raise Invalid("this installation runs no flows", field=("body", "flowKey"))

    def start(self, *, order: Order, flow: FlowChoice, actor: str) -> None:
        """Start `flow` for a new order; called inside the order's transaction."""
        raise AssertionError("flow_for never returns without an app that runs flows")

    def tasks_json(self, order: Order) -> list[dict[str, Any]]:
        """The order's task runs, as the API's order object shows them."""
        return []

    def current_steps(self, order_ids: Iterable[Any]) -> dict[Any, str]:
        """Where each order's flow is now (stage and open tasks), by id; none without a flow."""
        return {}

    def flow_names(self, space_ids: Iterable[Any]) -> dict[Any, list[str]]:
        """The names of the flows an order of each space can start, by space id."""
        return {}


class NoFlows(FlowHooks):
    """What orders do when no app runs flows."""


PageSection = Callable[["HttpRequest", "Order"], "SafeString"]
_flows: list[FlowHooks] = []
_page_sections: list[PageSection] = []


def register_flows(hooks: FlowHooks) -> None:
    """Called once by the app that runs flows (a second call replaces the first)."""
    _flows[:] = [hooks]


def flows() -> FlowHooks:
    return _flows[0] if _flows else NoFlows()


def register_page_section(render: PageSection) -> None:
    """Add a section to the order page: `render(request, order)` returns its HTML."""
    if render not in _page_sections:
        _page_sections.append(render)


def page_sections() -> list[PageSection]:
    return list(_page_sections)
