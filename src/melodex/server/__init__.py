"""Melodex Studio: the HTTP API (a job queue over the library) and the web page, served by one process."""

from melodex.server.app import ServerOptions, create_app

__all__ = ["ServerOptions", "create_app"]
