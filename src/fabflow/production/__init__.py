"""Production files: parametric models, rendering, slicing (docs/production.md)."""
