"""The audit log: read it, check its hash chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from facewise.serialize import audit_events_dict, audit_verify_dict
from facewise.server.routes import AUTH, errors
from facewise.server.schemas import AuditVerifyOut, EventsOut
from facewise.server.services import AdminKey, Svc

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=EventsOut, responses=errors(*AUTH, 422))
def read_audit(
    key: AdminKey,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most events to return.")] = 100,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**63 - 1,  # SQLite's largest integer: beyond it the store could not compare
            description="Events after this seq, oldest first; absent: the latest.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Audit events (enrol, identify, rename, merge, remove, forget, ...), oldest first."""
    gallery = svc.gallery
    events = gallery.events(since=after, limit=limit) if after is not None else gallery.events()
    return audit_events_dict(events if after is not None else events[-limit:])


@router.get("/verify", response_model=AuditVerifyOut, responses=errors(*AUTH))
def verify_audit(key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Check the hash chain: ``ok`` false names the first event that was altered or removed."""
    return audit_verify_dict(svc.gallery.events())
