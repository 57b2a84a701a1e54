"""HP PrintOS Site Flow: `siteflow-submit`, `siteflow-cancel` (docs/connectors/hp-siteflow.md)."""


def register() -> None:
    """From ConnectorsConfig.ready(): the handlers and the connection test of this kind."""
    from fabflow.connectors.models import ConnectionKind
    from fabflow.connectors.siteflow.handlers import HANDLERS
    from fabflow.connectors.siteflow.tester import check_connection
    from fabflow.connectors.testing import register_tester
    from fabflow.flows.handlers.registry import register as register_handlers

    register_handlers(*HANDLERS)
    register_tester(ConnectionKind.HP_SITEFLOW, check_connection)
