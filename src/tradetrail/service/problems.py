"""The service's errors as RFC 9457 problem documents (application/problem+json), so that a
client in any language reads the status, what went wrong and where from one shape."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_TYPE: Final = "application/problem+json"
_TITLES: Final = {
    400: "Bad request",
    500: "Internal server error",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
}


PROBLEM_SCHEMA: Final = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    status: {"description": title, "content": {PROBLEM_TYPE: {"schema": PROBLEM_SCHEMA}}}
    for status, title in _TITLES.items()
    if status not in (405, 409, 500)
}
"""Every route may answer these as problem documents (the OpenAPI document says so)."""


class Problem(Exception):
    """Raised by a route: becomes a problem document with `status`, `detail` and extensions
    (e.g. the bad lines of a batch)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": _scrub(request, detail),
        "instance": request.url.path,
        **extensions,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


def _scrub(request: Request, text: str) -> str:
    """`text` without the trail's directory: a client learns what went wrong, not where the
    service keeps its files (the service's log says that)."""
    trail = getattr(request.app.state, "trail", None)
    home = getattr(trail, "home", None)
    if home is None:
        return text
    for form in {str(home.resolve()), str(home)}:
        text = text.replace(form, "<home>")
    return text


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.detail, exc.headers, **exc.extensions)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"where": ".".join(str(p) for p in error.get("loc", ())), "error": error.get("msg")}
        for error in exc.errors()
    ]
    where = ", ".join(e["where"] for e in errors)
    return problem_response(request, 422, f"invalid request: {where}", errors=errors)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: a problem document that says nothing of it (uvicorn logs the traceback)."""
    return problem_response(request, 500, "internal error; the service's log has the details")


HANDLERS: Final = {
    Problem: on_problem,
    StarletteHTTPException: on_http_error,
    RequestValidationError: on_invalid_request,
    Exception: on_unexpected,
}
