"""The flow engine: a pure interpreter and the runner that persists and executes it."""
