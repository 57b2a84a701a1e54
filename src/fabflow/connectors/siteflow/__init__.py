"""HP PrintOS Site Flow: `siteflow-submit`, `siteflow-cancel` (docs/connectors/hp-siteflow.md)."""


def register() -> None:
    """From ConnectorsConfig.ready(): the handlers of this kind."""
    from fabflow.connectors.siteflow.handlers import HANDLERS
    from fabflow.flows.handlers.registry import register as register_handlers

    register_handlers(*HANDLERS)
