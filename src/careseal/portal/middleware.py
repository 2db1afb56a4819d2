"""Response headers every page gets."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class NoStoreMiddleware:
    """Forbid caching of every response: pages may show PHI, and a shared computer keeps caches."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/static/"):
            response["Cache-Control"] = "no-store"
        return response


class SessionTouchMiddleware:
    """Renew a non-empty session's expiry when it is more than a minute old, so idle time counts from use."""

    INTERVAL = 60

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if not request.path.startswith("/static/") and not session.is_empty():
            now = int(time.time())
            if now - int(session.get("_touched", 0)) >= self.INTERVAL:
                session["_touched"] = now
        return self.get_response(request)
