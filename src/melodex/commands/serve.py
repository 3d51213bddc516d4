"""`melodex serve`: Melodex Studio in the browser (HTTP API with a job queue, and the studio page)."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

from melodex.errors import MelodexError


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback needs a token."),
    port: int = typer.Option(8765, help="Port to listen on."),
    data: Path = typer.Option(Path("melodex-studio"), help="Folder for projects, exports and the job store."),
    token: str = typer.Option(None, help="Access token. Default: none on 127.0.0.1; a random one elsewhere."),
    threads: int = typer.Option(2, help="CPU threads for generation jobs (jobs run one at a time)."),
) -> None:
    """Open Melodex Studio: type a prompt, listen, regenerate sections and tracks, undo.

    Jobs wait in a queue and run one at a time; the queue and every finished project survive a restart
    (jobs cut short by a restart are shown as failed). The API schema is at /openapi.json.
    """
    try:
        import uvicorn

        from melodex.server import ServerOptions, create_app
    except ImportError as exc:
        raise MelodexError(f"the studio is not installed ({exc.name} is missing): run bash scripts/setup.sh, "
                           "or pip install 'melodex[server]'") from exc
    from melodex.server.guard import is_loopback

    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(18)
    options = ServerOptions(data_dir=data, host=host, token=token, cpu_threads=threads)
    app = create_app(options)
    typer.echo(f"Melodex Studio: {studio_link(host, port, token)}  (data in {data.resolve()}; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def studio_link(host: str, port: int, token: str | None) -> str:
    """The link `serve` prints: one a browser can open, with the token when there is one.

    A wildcard bind (0.0.0.0, ::) is not an address to browse to: the link names this machine instead.
    """
    if host in ("0.0.0.0", "::", "[::]", ""):
        import socket

        host = socket.gethostname() or "127.0.0.1"
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
