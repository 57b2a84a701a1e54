"""Flow task handlers: the built-ins, their payload models and the registry."""
