"""The queue, a ticket, and live handoff. Every query goes through `casework.queue`,
which scopes it to the staff member's office; these views only translate HTTP.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for

from casework.models import PRIORITIES, TICKET_STATUSES
from casework.queue import (
    NotAllowed,
    QueueFilters,
    add_note,
    change_status,
    conversation_for,
    export_queue_csv,
    list_queue,
    mark_tickets_seen,
    reassign,
    view_ticket,
)
from casework.reference import NEEDS, handoff_text
from casework.tickets import CLOSE_REASONS, InvalidTransition
from console.app import current_staff, services, t
from console.rasa_api import RasaUnavailable

blueprint = Blueprint("tickets", __name__)
MAX_REPLY_CHARS = 1500


def _filters() -> QueueFilters:
    args = request.args
    return QueueFilters(
        status=args.get("status") or None, priority=args.get("priority") or None,
        origin_country=args.get("origin") or None, need=args.get("need") or None,
        reference=(args.get("q") or "")[:16] or None,
    )


@blueprint.get("/queue")
def queue() -> Any:
    svc, staff = services(), current_staff()
    filters = _filters()
    with svc.unit_of_work() as db:
        rows = list_queue(db, staff, filters)
        mark_tickets_seen(db, staff, now=svc.clock())
    countries = sorted(svc.kb.origin)
    return render_template("queue.html", rows=rows, filters=filters, statuses=TICKET_STATUSES,
                           priorities=PRIORITIES, needs=NEEDS, countries=countries, staff=staff)


@blueprint.get("/queue.csv")
def queue_csv() -> Any:
    svc = services()
    with svc.unit_of_work() as db:
        body = export_queue_csv(db, current_staff(), _filters(), now=svc.clock())
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=queue.csv"})


@blueprint.get("/tickets/<reference>")
def ticket(reference: str) -> Any:
    svc, staff = services(), current_staff()
    with svc.unit_of_work() as db:
        view = view_ticket(db, staff, reference, cipher=svc.cipher, now=svc.clock())
    template: str | None = None
    if view.channel == "whatsapp" and not view.whatsapp_window_open:
        office = svc.offices.offices.get(view.office_id)
        template = office.whatsapp_template if office else None
    offices = sorted(svc.known_offices - {view.office_id})
    return render_template("ticket.html", ticket=view, staff=staff, statuses=TICKET_STATUSES,
                           close_reasons=CLOSE_REASONS, offices=offices, template=template,
                           template_text=handoff_text(svc.kb, "whatsapp_reopen", view.language))


@blueprint.get("/tickets/<reference>/conversation")
def conversation(reference: str) -> Any:
    svc = services()
    with svc.unit_of_work() as db:
        person = conversation_for(db, current_staff(), reference, now=svc.clock(), purpose="read")
    try:
        state = svc.rasa.conversation(person.sender_id)
    except RasaUnavailable:
        return jsonify(error=t("rasa_unavailable")), 502
    return jsonify(
        paused=state.paused,
        window_open=person.whatsapp_window_open,
        lines=[{"who": line.who, "label": t(f"who_{line.who}"), "text": line.text, "at": line.at}
               for line in state.lines],
    )


def _back(reference: str, anchor: str = "") -> Any:
    return redirect(url_for("tickets.ticket", reference=reference) + anchor)


@blueprint.post("/tickets/<reference>/status")
def status(reference: str) -> Any:
    svc = services()
    try:
        with svc.unit_of_work() as db:
            change_status(db, current_staff(), reference, status=request.form.get("status", ""),
                          reason=request.form.get("reason") or None, now=svc.clock())
    except InvalidTransition:
        flash(t("status_refused"), "error")
    else:
        flash(t("status_saved"), "ok")
    return _back(reference)


@blueprint.post("/tickets/<reference>/notes")
def note(reference: str) -> Any:
    svc = services()
    try:
        with svc.unit_of_work() as db:
            add_note(db, current_staff(), reference, body=request.form.get("body", ""), cipher=svc.cipher,
                     now=svc.clock())
    except ValueError:
        flash(t("note_refused"), "error")
    return _back(reference, "#notes")


@blueprint.post("/tickets/<reference>/reassign")
def reassign_ticket(reference: str) -> Any:
    svc = services()
    try:
        with svc.unit_of_work() as db:
            reassign(db, current_staff(), reference, office_id=request.form.get("office_id", ""),
                     note=request.form.get("note", ""), cipher=svc.cipher, now=svc.clock(),
                     known_offices=svc.known_offices)
    except NotAllowed:
        flash(t("not_allowed"), "error")
        return _back(reference)
    except ValueError:
        flash(t("reassign_refused"), "error")
        return _back(reference)
    flash(t("reassigned"), "ok")
    return redirect(url_for("tickets.queue"))


def _handoff(reference: str, purpose: str) -> Any:
    """Audit the action (and check the office) first, then call the Rasa server."""
    svc = services()
    with svc.unit_of_work() as db:
        person = conversation_for(db, current_staff(), reference, now=svc.clock(), purpose=purpose)
    return svc, person


@blueprint.post("/tickets/<reference>/take-over")
def take_over(reference: str) -> Any:
    svc, person = _handoff(reference, "take_over")
    try:
        svc.rasa.take_over(person.sender_id, notice=handoff_text(svc.kb, "staff_joined", person.language),
                           staff=current_staff().username)
    except RasaUnavailable:
        flash(t("rasa_unavailable"), "error")
    else:
        flash(t("taken_over"), "ok")
    return _back(reference, "#conversation")


@blueprint.post("/tickets/<reference>/reply")
def reply(reference: str) -> Any:
    text = request.form.get("text", "").strip()
    if not text or len(text) > MAX_REPLY_CHARS:
        flash(t("reply_refused"), "error")
        return _back(reference, "#conversation")
    svc, person = _handoff(reference, "reply")
    if not person.whatsapp_window_open:
        flash(t("window_closed"), "error")
        return _back(reference, "#conversation")
    try:
        svc.rasa.say(person.sender_id, text, staff=current_staff().username)
    except RasaUnavailable:
        flash(t("rasa_unavailable"), "error")
    return _back(reference, "#conversation")


@blueprint.post("/tickets/<reference>/template")
def template(reference: str) -> Any:
    svc, person = _handoff(reference, "template")
    office = svc.offices.offices.get(person.office_id)
    if person.channel != "whatsapp" or office is None or not office.whatsapp_template:
        flash(t("no_template"), "error")
        return _back(reference, "#conversation")
    try:
        svc.rasa.say(person.sender_id, handoff_text(svc.kb, "whatsapp_reopen", person.language),
                     staff=current_staff().username, template=office.whatsapp_template)
    except RasaUnavailable:
        flash(t("rasa_unavailable"), "error")
    else:
        flash(t("template_sent"), "ok")
    return _back(reference, "#conversation")


@blueprint.post("/tickets/<reference>/hand-back")
def hand_back(reference: str) -> Any:
    svc, person = _handoff(reference, "hand_back")
    try:
        svc.rasa.hand_back(person.sender_id, notice=handoff_text(svc.kb, "assistant_back", person.language),
                           staff=current_staff().username)
    except RasaUnavailable:
        flash(t("rasa_unavailable"), "error")
    else:
        flash(t("handed_back"), "ok")
    return _back(reference, "#conversation")
