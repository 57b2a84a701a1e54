"""Connectors to partner systems; the demo connector shows the contract without a partner."""
