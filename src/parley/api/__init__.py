"""Adapters that speak the wire: HTTP (REST) now, the socket dialects later."""
