"""SQLite backend with fair, short waits for the write lock (see base.py)."""
