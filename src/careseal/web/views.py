"""Health check for load balancers and monitoring."""

from __future__ import annotations

import logging
import time

from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from careseal.queue.models import Delivery
from careseal.queue.vault import blob_store, key_ring
from careseal.vault.blobstore import StorageError
from careseal.vault.keyring import KeyRingError

log = logging.getLogger("careseal.web")

# Seconds a storage check result is reused, so frequent health checks cost one S3 request at most this often.
STORAGE_CHECK_INTERVAL = 10.0
_storage_checked: tuple[float, str] = (-STORAGE_CHECK_INTERVAL, "")


def _storage_problem() -> str:
    """Return why the blob store cannot be used, or "" when it can, checking at most every few seconds."""
    global _storage_checked
    checked_at, problem = _storage_checked
    if time.monotonic() - checked_at < STORAGE_CHECK_INTERVAL:
        return problem
    try:
        blob_store().check_reachable()
        problem = ""
    except StorageError as error:
        problem = str(error)
        log.error("health check: storage unreachable: %s", problem)
    _storage_checked = (time.monotonic(), problem)
    return problem


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Return 200 with the queue depth when the database, keys and storage work, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = Delivery.objects.filter(status__in=Delivery.PENDING).count()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    try:
        key_ring()
    except KeyRingError:
        return JsonResponse({"status": "error", "database": "ok", "keys": "unreadable"}, status=503)
    if _storage_problem():
        return JsonResponse({"status": "error", "database": "ok", "keys": "ok", "storage": "unreachable"},
                            status=503)
    return JsonResponse({"status": "ok", "database": "ok", "keys": "ok", "storage": "ok",
                         "queue": {"pending": pending}})
