"""Exports of the web tables: CSV of the visible columns, zips of files streamed lazily."""
