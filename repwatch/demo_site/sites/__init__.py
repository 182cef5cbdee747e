"""One module per demo site, each with a ROUTES list of (path pattern, handler)."""
