"""The intake: consent and age first, one question at a time, a summary, then the case.

Wiring only: the answers are read by `bot.conversation.intake`, the case is opened by
`casework.tickets.submit_intake` (off the event loop), every word comes from the domain.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answers import PERSON_SLOTS
from bot.actions.base import latest_intent, reply_language, slot_values
from bot.actions.funnel import count_step
from bot.conversation import intake as form
from bot.conversation.answering import plan_contact
from casework.consent import PRIVACY_NOTICE_VERSION
from casework.db import shared_engine
from casework.models import CHANNELS
from casework.settings import load_settings
from casework.tickets import ConsentGiven, cases_of, idempotency_key_for, submit_intake
from knowledge.loader import knowledge_base
from knowledge.safety import safety_message_parts

logger = logging.getLogger(__name__)

FORM = "intake_form"
# Never an answer: the rules handle these (stop, why, privacy, language, menu).
INTERRUPTIONS = {"cancel", "ask_why", "delete_my_data", "start_over", "change_language", "help", "report_distress"}
# Handled by a rule when the message is not a usable answer (a question mid-form, a person...).
QUESTIONS = {
    "talk_to_human", "request_return_help", "ask_case_status", "bot_challenge", "ask_return_programs",
    "ask_eligibility", "ask_reentry", "ask_qualification_recognition", "ask_reintegration_services",
    "ask_customs_benefits", "ask_documents", "ask_oss_contact", "ask_privacy",
}
# Below this confidence an interruption (cancel, why...) does not override a usable answer.
SURE = 0.6
CONTEXT_SLOTS = ["need", "elig_months", "elig_vulnerability", "eligibility_result", "pending_country",
                 "country_origin", "country_residence", "region_residence", "city_residence", "city_return"]


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def channel_of(tracker: Tracker) -> str:
    """The channel the person writes on, as casework knows channels (REST for anything else)."""
    channel = tracker.get_latest_input_channel() or "rest"
    return channel if channel in CHANNELS else "rest"


def form_slots(tracker: Tracker) -> dict[str, Any]:
    return slot_values(tracker, [*form.ALL_SLOTS, *CONTEXT_SLOTS])


def latest_message(tracker: Tracker) -> form.Message:
    message = tracker.latest_message
    return form.Message(
        text=message.get("text") or "", intent=latest_intent(tracker),
        entities=tuple(message.get("entities") or ()), places=tuple(message.get("places") or ()),
    )


def response_key(slot: str) -> str:
    """The response suffix of a form slot: the shared country slots get an intake_ prefix."""
    return slot if slot.startswith("intake_") else f"intake_{slot}"


def words(domain: dict[str, Any], language: str) -> dict[str, Any]:
    """The summary's vocabulary (labels of fields, needs, levels...), from utter_intake_words."""
    for variation in (domain.get("responses") or {}).get("utter_intake_words") or []:
        if any(c.get("name") == "language" and c.get("value") == language for c in variation.get("condition") or []):
            return dict(variation.get("custom") or {})
    raise LookupError(f"utter_intake_words has no variation for {language}")


def within_days(vocabulary: dict[str, Any], days: int | None) -> str:
    """How soon the office contacts the person, as it committed to (config/offices.yml);
    "" when it did not: the person is never promised a delay nobody agreed to."""
    if not days:
        return ""
    phrases = vocabulary["within"]
    return str(phrases["one"] if days == 1 else phrases["other"].format(days=days))


def utter_safety(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    parts = safety_message_parts(knowledge_base(), reply_language(tracker), where=tracker.get_slot("country_residence"))
    dispatcher.utter_message(response="utter_safety", emergency=parts.emergency, lines=parts.lines)


def utter_contacts(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    plan = plan_contact(knowledge_base(), reply_language(tracker), slot_values(tracker, PERSON_SLOTS))
    for message in plan.answer.messages if plan.answer else ():
        dispatcher.utter_message(text=message)


def answers_a_question(tracker: Tracker) -> bool:
    """True when the form runs on a new user message (not when it resumes after a rule).

    Rasa hands the validation action a tracker ending in the form's own ActionExecuted, so
    the action before it tells: `action_listen` means the person just wrote something.
    """
    if tracker.active_loop_name != FORM:
        return False  # activation: the message that started the form is not an answer
    actions = [e.get("name") for e in reversed(tracker.events) if e.get("event") == "action"]
    if actions and actions[0] == FORM:
        actions = actions[1:]
    return bool(actions) and actions[0] == "action_listen"


class ValidateIntakeForm(FormValidationAction):
    """Reads each answer (or a correction), counts failed answers, and decides the next question."""

    def name(self) -> str:
        return "validate_intake_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: dict[str, Any]) -> list[str]:
        return form.required_slots(form_slots(tracker))

    def read(self, requested: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        message = latest_message(tracker)
        confidence = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0)
        if message.intent in INTERRUPTIONS and confidence < SURE and form.read_answer(
            requested, message, form_slots(tracker), today(), channel_of(tracker),
        ).understood:
            message = replace(message, intent=None)  # a guess of "cancelar" must not undo a real answer
        if message.intent in INTERRUPTIONS and not (
            requested == "intake_vulnerability" and message.intent == "report_distress"
        ):
            return {}
        slots = form_slots(tracker)
        reading = form.read_answer(requested, message, slots, today(), channel_of(tracker))
        if reading.understood:
            updates = {**reading.updates, form.FAILURES: 0.0} if not reading.corrected else dict(reading.updates)
            if reading.danger or message.intent == "report_distress":
                utter_safety(dispatcher, tracker)  # the safety path first, then the form goes on
            if reading.corrected:
                dispatcher.utter_message(response="utter_intake_corrected")
            if requested == form.CONSENT and updates.get(form.CONSENT) is True:
                updates[form.CONSENT_AT] = dt.datetime.now(dt.timezone.utc).isoformat()
                updates[form.CONSENT_LANGUAGE] = reply_language(tracker)
            if requested == form.ADULT and updates.get(form.ADULT) is True:
                updates.update(form.prefill(slots))
            return updates
        if message.intent in QUESTIONS or message.intent == "report_distress":
            return {}  # not an answer: the rule for the question runs, then the question again
        updates, offer_person = form.after_failure(requested, int(slots.get(form.FAILURES) or 0))
        if offer_person:
            dispatcher.utter_message(response="utter_intake_offer_person")
        return updates

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        events: list[dict[str, Any]] = []
        fresh = answers_a_question(tracker)
        if requested in form.FORM_SLOTS and fresh:
            events = [SlotSet(name, value) for name, value in self.read(requested, dispatcher, tracker).items()]
            tracker.add_slots(events)
        return events + await super().run(dispatcher, tracker, domain)


class AskIntakeQuestion(Action, ABC):
    """action_ask_<slot>: the question, or again with an example after an unclear answer.

    Abstract, so the action server registers only the concrete one per slot below.
    """

    @property
    @abstractmethod
    def slot(self) -> str: ...

    def name(self) -> str:
        if self.slot in ("country_origin", "country_residence"):
            return f"action_ask_{FORM}_{self.slot}"  # the eligibility form keeps its own question
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge_base()
        language = reply_language(tracker)
        key = response_key(self.slot)
        if self.slot == form.CONTACT_CHANNEL and channel_of(tracker) not in form.REPLYABLE_CHANNELS:
            key += "_no_chat"
        again = bool(tracker.get_slot(form.FAILURES))
        params: dict[str, Any] = {}
        for variable, slot in (("origin", "country_origin"), ("residence", "country_residence")):
            code = tracker.get_slot(slot)
            params[variable] = kb.country_name(code, language) if code else ""
        params["name"] = tracker.get_slot("intake_name") if isinstance(tracker.get_slot("intake_name"), str) \
            and tracker.get_slot("intake_name") != "unknown" else ""
        if self.slot == form.CONSENT:
            settings = load_settings()
            params.update(version=PRIVACY_NOTICE_VERSION, case_days=settings.retention_closed_case_days,
                          conversation_days=settings.retention_conversation_days)
        if self.slot == form.ADULT and not again:
            # The funnel's "intake started": consent was given, the first personal question comes.
            await count_step("intake_started", tracker)
        dispatcher.utter_message(response=f"utter_{'reask' if again else 'ask'}_{key}", **params)
        return []


class AskIntakeConfirmation(Action):
    """The summary of every answer, with confirm / change something / cancel."""

    def name(self) -> str:
        return "action_ask_intake_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        language = reply_language(tracker)
        lines = form.summary_lines(form_slots(tracker), words(domain, language), knowledge_base(), language)
        again = bool(tracker.get_slot(form.FAILURES))
        dispatcher.utter_message(response="utter_reask_intake_confirmed" if again else "utter_ask_intake_confirmed",
                                 summary="\n".join(lines))
        return []


for _slot in form.FORM_SLOTS:
    if _slot != form.CONFIRMED:
        globals()[f"AskIntake_{_slot}"] = type(f"AskIntake_{_slot}", (AskIntakeQuestion,), {"slot": _slot})


class ActionIntakeExplain(Action):
    """"¿Para qué?": why the current question is asked; the form then asks it again."""

    def name(self) -> str:
        return "action_intake_explain"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        response = f"utter_why_{response_key(requested)}" if requested in form.FORM_SLOTS else "utter_why_intake"
        dispatcher.utter_message(response=response)
        return []


class ActionIntakeStop(Action):
    """Cancel at any point: nothing was stored, and the answers are forgotten."""

    def name(self) -> str:
        return "action_intake_stop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_intake_cancelled")
        return [ActiveLoop(None), *[SlotSet(k, v) for k, v in form.reset_events().items()]]


class ActionIntakeFinish(Action):
    """The end of the form: the case and its reference, or the honest alternative."""

    def name(self) -> str:
        return "action_intake_finish"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        slots = form_slots(tracker)
        reset = [SlotSet(k, v) for k, v in form.reset_events().items()]
        if slots.get(form.CONFIRMED) is True and slots.get(form.CONSENT) is True and slots.get(form.ADULT) is True:
            return await self.open_case(dispatcher, tracker, domain, slots)
        if slots.get(form.REFERENCE):
            dispatcher.utter_message(response="utter_intake_already_open", reference=slots[form.REFERENCE])
            return reset
        if slots.get(form.CONSENT) is False:
            dispatcher.utter_message(response="utter_intake_no_consent")
            utter_contacts(dispatcher, tracker)
            return reset
        if slots.get(form.ADULT) is False:
            parts = safety_message_parts(knowledge_base(), reply_language(tracker),
                                         where=tracker.get_slot("country_residence"))
            dispatcher.utter_message(response="utter_intake_minor", emergency=parts.emergency, lines=parts.lines)
            return reset
        dispatcher.utter_message(response="utter_intake_person_instead")
        utter_contacts(dispatcher, tracker)
        return reset

    async def open_case(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                        slots: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge_base()
        language = reply_language(tracker)
        channel = channel_of(tracker)
        answers = form.answers_from_slots(slots, language)
        consent_at = str(slots.get(form.CONSENT_AT) or dt.datetime.now(dt.timezone.utc).isoformat())
        consent = ConsentGiven(at=dt.datetime.fromisoformat(consent_at), notice_version=PRIVACY_NOTICE_VERSION,
                               language=str(slots.get(form.CONSENT_LANGUAGE) or language))
        # The time of the yes identifies this run of the form: the same confirmed answers
        # (a repeated action, a retried call) give the same key, hence the same ticket.
        key = idempotency_key_for(sender_id=tracker.sender_id, intake=answers, form_run=consent_at)
        eligibility = slots.get("eligibility_result") if isinstance(slots.get("eligibility_result"), dict) else None
        try:
            opened = await asyncio.to_thread(
                submit_intake, shared_engine(), settings=load_settings(), kb=kb, sender_id=tracker.sender_id,
                channel=channel, consent=consent, intake=answers, eligibility=eligibility,
                now=dt.datetime.now(dt.timezone.utc), idempotency_key=key,
            )
        except Exception as error:  # noqa: BLE001 -- the person gets the contacts whatever failed
            # The type only: database errors can carry the statement's parameters (personal data).
            logger.error("intake: the case could not be opened (%s)", type(error).__name__)
            dispatcher.utter_message(response="utter_intake_failed")
            utter_contacts(dispatcher, tracker)
            return [SlotSet(form.CONFIRMED, None)]
        office = kb.office(opened.office_ids[0]).name[language]
        vocabulary = words(domain, language)
        if opened.warm_lead:
            how = vocabulary["reach_by"].get(answers.contact_channel or "chat", "")
            dispatcher.utter_message(response="utter_intake_done", reference=opened.reference, office=office, how=how,
                                     within=within_days(vocabulary, opened.first_contact_days))
        elif not answers.reachable(chat_reachable=channel in form.REPLYABLE_CHANNELS):
            dispatcher.utter_message(response="utter_intake_done_no_contact", reference=opened.reference, office=office)
        else:
            dispatcher.utter_message(response="utter_intake_done_later", reference=opened.reference, office=office)
        return [*[SlotSet(k, v) for k, v in form.reset_events().items()], SlotSet(form.REFERENCE, opened.reference)]


class ActionCaseStatus(Action):
    """"¿Cómo va mi caso?": the status of this person's own tickets, and nobody else's."""

    def name(self) -> str:
        return "action_case_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge_base()
        language = reply_language(tracker)
        try:
            statuses = await asyncio.to_thread(cases_of, shared_engine(), sender_id=tracker.sender_id)
        except Exception as error:  # noqa: BLE001
            logger.error("case status unavailable (%s)", type(error).__name__)
            dispatcher.utter_message(response="utter_case_status_unavailable")
            return []
        if not statuses:
            dispatcher.utter_message(response="utter_case_status_none")
            return []
        labels = words(domain, language)["statuses"]
        for status in statuses[:3]:
            dispatcher.utter_message(
                response="utter_case_status", reference=status.reference, status=labels[status.status],
                office=kb.office(status.office_id).name[language], date=status.updated_at.date().isoformat(),
            )
        return []
