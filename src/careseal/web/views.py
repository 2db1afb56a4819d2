"""Health check for load balancers and monitoring."""

from __future__ import annotations

from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from careseal.queue.models import Delivery
from careseal.queue.vault import key_ring
from careseal.vault.keyring import KeyRingError


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Return 200 with the queue depth when the database responds, else 503."""
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
    return JsonResponse({"status": "ok", "database": "ok", "keys": "ok", "queue": {"pending": pending}})
