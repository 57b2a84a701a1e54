"""The demo (`fabflow demo`): seeds an organization that shows every app at work. It sits on top,
like api.py and urls.py, and may import every app."""
