"""Template filters of the order, product and part pages."""
