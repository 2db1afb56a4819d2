"""Response headers every page gets, and the page shown while sealed content cannot be read."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careseal.vault.blobstore import BlobUnusable, StorageError
from careseal.vault.envelope import DecryptionError

log = logging.getLogger("careseal.portal")

# Seconds a client is asked to wait before retrying while storage is unreachable.
STORAGE_RETRY_AFTER = 60


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


class StorageUnavailableMiddleware:
    """Middleware that turns a blob store failure in a patient page into a page of the portal's own.

    An outage of the storage service (an S3 endpoint down, a disk gone) is a
    temporary fault: 503 with Retry-After, and a page asking the patient to
    try again. A blob that is missing or fails its integrity check will not
    come back by itself: 500, and a page pointing to the practice. The log
    line names the request path and the fault, and neither contains PHI.
    Console pages keep Django's own error handling.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/console/"):
            return None
        if isinstance(exception, (BlobUnusable, DecryptionError)):
            log.error("message content unreadable path=%s: %s: %s", request.path, type(exception).__name__,
                      exception)
            return render(request, "portal/content_lost.html", status=500)
        if isinstance(exception, StorageError):
            log.error("storage unavailable path=%s: %s", request.path, exception)
            response = render(request, "portal/storage_unavailable.html", status=503)
            response["Retry-After"] = str(STORAGE_RETRY_AFTER)
            return response
        return None
