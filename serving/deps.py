"""Annotated dependencies, so route functions read like the API they serve.

``TenantDep`` turns the ``X-API-Key`` header into the caller's tenant (401 when missing or
unknown); ``ServiceDep`` is the process's :class:`biometrics.service.BiometricService`
(503 until the lifespan has loaded the bundle and opened the store).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from biometrics.service import BiometricService
from serving.routes.health import Metrics
from serving.settings import Settings

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                        description="API key; it selects the tenant whose users the request may touch")


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_tenant(settings: SettingsDep, api_key: Annotated[str | None, Depends(_api_key)]) -> str:
    """The tenant of the request's API key; 401 when the key is missing or unknown."""
    if not api_key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"missing API key: send it in the {API_KEY_HEADER} header")
    tenant = None
    given = api_key.encode("utf-8", "surrogatepass")
    for key, t in settings.api_keys.items():  # compare every key in constant time
        if hmac.compare_digest(given, key.encode("utf-8")):
            tenant = t
    if tenant is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"unknown API key in the {API_KEY_HEADER} header")
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]


async def get_service(request: Request) -> BiometricService:
    """The application service; 503 while the model or the store is not loaded."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        reason = getattr(request.app.state, "unavailable", None)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the model bundle cannot be served: {reason}" if reason else
                            "the service is starting or stopping: model bundle or profile store not loaded")
    return service


ServiceDep = Annotated[BiometricService, Depends(get_service)]


async def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus metrics."""
    return request.app.state.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
