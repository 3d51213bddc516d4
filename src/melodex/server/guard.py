"""The studio server's gate: token, Host and body-size checks, before any route sees a request.

Without a token only loopback names are served (DNS rebinding); with one, every request carries it as a
bearer header or the cookie the first `/?token=...` visit sets. Bodies are capped, with or without a
Content-Length.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_COOKIE = "melodex_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _loopback_address(host: str) -> bool:
    """A loopback IP literal (127.0.0.2, ::1): a web page cannot make a browser send it for its own name."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or _loopback_address(host)


class Guard:
    """ASGI middleware: token (header or cookie), Host check on loopback, and a cap on body size."""

    def __init__(self, app: Any, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = self.token
        if token is None:
            # Without a token only loopback names are served, so a web page cannot reach the studio
            # through a DNS name that resolves to 127.0.0.1 (DNS rebinding).
            try:
                host = urlsplit("//" + headers.get("host", "")).hostname or ""
            except ValueError:
                host = ""
            if not (host in LOOPBACK_NAMES or _loopback_address(host)):
                await _send_json(send, 403, f"host {host!r} is not served: open http://127.0.0.1:<port>/")
                return
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if scope["path"] == "/" and "token" in query:
                if not hmac.compare_digest(query["token"][0].encode(), token.encode()):
                    await _send_json(send, 401, "wrong token: use the link `melodex serve` printed")
                    return
                cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                await send({"type": "http.response.start", "status": 303,
                            "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
            if not _authorized(headers, token):
                await _send_json(send, 401, "this Melodex server needs its token: open the link `melodex serve` "
                                            "printed (/?token=...) or send 'Authorization: Bearer <token>'")
                return
        length = headers.get("content-length")
        limit = self.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_json(send, 413, f"request body over {limit // 1024} KB: send less")
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # Read the body here (it is small by contract) so a body without Content-Length is capped too.
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    await _send_json(send, 413, f"request body over {limit // 1024} KB: send less")
                    return
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            sent = False

            async def replay() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


def _authorized(headers: dict[str, str], token: str) -> bool:
    expected = token.encode()
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip().encode(), expected):
        return True
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is simply not a token
        return False
    morsel = cookie.get(TOKEN_COOKIE)
    return morsel is not None and hmac.compare_digest(morsel.value.encode(), expected)


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
