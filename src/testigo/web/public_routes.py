"""Public pages: incidents marked public, readable without an account, nothing protected in them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from testigo.errors import NotFoundError
from testigo.share.public import public_incident, public_incidents
from testigo.vault.service import Vault
from testigo.web.deps import language
from testigo.web.pages import render

router = APIRouter()


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


@router.get("/public.json")
def public_list_json(request: Request) -> JSONResponse:
    return JSONResponse({"incidents": public_incidents(_vault(request))})


@router.get("/public", response_class=HTMLResponse)
def public_list(request: Request, _lang: str = Depends(language)) -> HTMLResponse:
    return render(request, "public.html", {"incidents": public_incidents(_vault(request))})


def _record(request: Request, incident_id: int) -> dict[str, Any]:
    record = public_incident(_vault(request), incident_id)
    if record is None:
        raise NotFoundError(f"there is no public incident {incident_id}")
    return record


@router.get("/public/incidents/{incident_id:int}.json")
def public_incident_json(request: Request, incident_id: int) -> JSONResponse:
    return JSONResponse(_record(request, incident_id))


@router.get("/public/incidents/{incident_id:int}", response_class=HTMLResponse)
def public_incident_page(
    request: Request, incident_id: int, _lang: str = Depends(language)
) -> HTMLResponse:
    return render(request, "public_incident.html", {"record": _record(request, incident_id)})
