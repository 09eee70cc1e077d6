"""ASGI middleware: request-size cap, per-client rate limit, version and provenance headers.

Plain ASGI classes (no per-request thread, no buffering beyond the capped body).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

__all__ = ["BodyLimit", "RateLimit", "VersionHeaders", "DEFAULT_PROVENANCE"]

DEFAULT_PROVENANCE = ("ketasim package data (parameter sets with citations: /api/parameters; "
                      "variables: /api/variables)")


async def _send_json(send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    from .. import __version__

    data = json.dumps({**body, "ketasim_version": __version__}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (by Content-Length, or while reading a chunked body)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_big(self, send):
        return _send_json(send, 413, {"error": "request too large",
                                      "message": f"request body exceeds the limit of {self.max_bytes:,} bytes"})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    return await _send_json(send, 400, {"error": "bad request", "message": "invalid Content-Length"})
                if n > self.max_bytes:
                    return await self._too_big(send)
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return await self._too_big(send)
            chunks.append(body)
            more = msg.get("more_body", False)
        data, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class RateLimit:
    """Per-client request limit over ``/api/`` paths: ``limit`` requests per ``window_s``; 429 beyond.

    With a ``store``, the counts live in the database (table ``rate_counts``), so every server
    process on it (``ketasim serve --workers N``) shares one count per client and the limit
    holds across workers. A client's window opens at its first request and lasts ``window_s``
    seconds, so no ``window_s`` span starting at a window's opening holds more than ``limit``
    requests (two adjacent windows can hold up to 2 x ``limit`` within ``window_s`` of each other).
    Without a store (``store=None``) the same windows are counted in this process only.
    ``limit=0`` turns it off (no database write per request).
    """

    def __init__(self, app, limit: int, window_s: float, store=None) -> None:
        self.app, self.limit, self.window_s, self.store = app, limit, window_s, store
        self._local: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._next_forget = 0.0

    def _hit_local(self, key: str, now: float) -> tuple[int, float]:
        with self._lock:
            count, start = self._local.get(key, (0, now))
            if start + self.window_s <= now:
                count, start = 0, now
            self._local[key] = (count + 1, start)
            if len(self._local) > 10_000:  # forget ended windows
                for k in [k for k, (_, st) in self._local.items() if st + self.window_s <= now]:
                    del self._local[k]
            return count + 1, start

    def _take(self, key: str) -> float:
        """0 if a request may go ahead, else seconds until it may (runs in a worker thread: it may write)."""
        now = time.time()
        if self.store is None:
            count, start = self._hit_local(key, now)
        else:
            if now >= self._next_forget:  # at most once per window per process: drop ended windows
                self._next_forget = now + self.window_s
                self.store.rate_forget(self.window_s, now)
            count, start = self.store.rate_hit(key, self.window_s, now)
        if count <= self.limit:
            return 0.0
        return max(start + self.window_s - now, 1e-3)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.limit == 0 or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        import anyio.to_thread

        client = scope.get("client") or ("unknown", 0)
        wait = await anyio.to_thread.run_sync(self._take, str(client[0]))
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            return await _send_json(send, 429, {
                "error": "rate limit",
                "message": f"more than {self.limit} requests in {self.window_s:g} s from this client; retry in {retry} s"},
                [(b"retry-after", str(retry).encode())])
        return await self.app(scope, receive, send)


class VersionHeaders:
    """Add ``X-Ketasim-Version`` and (unless the endpoint set one) ``X-Ketasim-Provenance`` to every response."""

    def __init__(self, app) -> None:
        from .. import __version__

        self.app = app
        self.version = __version__.encode("ascii")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def wrapped(msg):
            if msg["type"] == "http.response.start":
                headers = list(msg.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-ketasim-version", self.version))
                if b"x-ketasim-provenance" not in names:
                    headers.append((b"x-ketasim-provenance", DEFAULT_PROVENANCE.encode("ascii")))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
                msg = {**msg, "headers": headers}
            await send(msg)

        return await self.app(scope, receive, wrapped)
