"""The funnel (chart, table, CSV export) and the read-only audit trail."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from casework.funnel import COUNTS, export_csv, funnel, totals_by_week, weeks_back
from casework.queue import NotAllowed, audit_trail
from console.app import current_staff, services, t
from console.chart import funnel_svg

blueprint = Blueprint("funnel", __name__)


def _weeks() -> int:
    try:
        return min(max(int(request.args.get("weeks", "8")), 1), 52)
    except ValueError:
        return 8


@blueprint.get("/funnel")
def funnel_page() -> Any:
    svc, staff, weeks = services(), current_staff(), _weeks()
    now = svc.clock()
    with svc.unit_of_work() as db:
        rows = funnel(db, staff, now=now, weeks=weeks)
    labels = {name: t(f"funnel_{name}") for name in COUNTS}
    chart = funnel_svg(weeks_back(now, weeks), totals_by_week(rows), COUNTS, labels, t("funnel"))
    return render_template("funnel.html", rows=rows, counts=COUNTS, labels=labels, chart=chart, weeks=weeks,
                           staff=staff)


@blueprint.get("/funnel.csv")
def funnel_csv() -> Any:
    svc = services()
    with svc.unit_of_work() as db:
        body = export_csv(db, current_staff(), now=svc.clock(), weeks=_weeks())
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": "attachment; filename=funnel.csv"})


@blueprint.get("/audit")
def audit_page() -> Any:
    svc = services()
    try:
        with svc.unit_of_work() as db:
            events = audit_trail(db, current_staff())
    except NotAllowed:
        return render_template("error.html", message=t("not_allowed")), 403
    return render_template("audit.html", events=events, staff=current_staff())
