"""The web app's 10 MB upload limit, applied to the request body's bytes as they arrive (ASGI middleware).

A body that declares a Content-Length over the limit is refused before the app sees any of it. A body that
declares none (chunked transfer) is counted while the app's multipart parser reads it and refused the moment
it passes the limit, so nothing beyond the limit is ever parsed or stored. Either way the rest of the body is
read and dropped (up to DRAIN_LIMIT) before the answer, so a client that is still sending gets the 413 rather
than a reset connection, and the connection can serve the next request. (Starlette is imported where it is
used, so the limits can be imported without the `serve` extra.)
"""

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # the photo plus its multipart framing
DRAIN_LIMIT = 128 * 1024 * 1024  # past this much, the answer goes at once and the connection is closed


def too_large(size: int | None = None) -> str:
    shown = f" ({size / 1e6:.1f} MB)" if size else ""
    return f"upload too large{shown}: the limit is {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"


class UploadLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            if declared <= DRAIN_LIMIT:
                await _drain(receive)
            return await JSONResponse({"detail": too_large(declared)}, status_code=413)(scope, receive, send)

        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    if message.get("more_body"):
                        await _drain(receive, received)
                    # FastAPI passes an HTTPException raised while it reads the body on to its handler: a 413
                    raise HTTPException(413, too_large())
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _drain(receive, received: int = 0) -> None:
    """Read and drop the rest of the body, stopping at DRAIN_LIMIT bytes in all."""
    while received <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            return
