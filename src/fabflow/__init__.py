"""Fabflow: order management for digital manufacturing."""

__version__ = "0.1.0"
