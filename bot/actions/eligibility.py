"""The eligibility pre-check form: one question at a time, result with reasons and sources."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.base import domain_text, latest_intent, reply_language
from bot.actions.funnel import count_step
from bot.conversation.durations import parse_months
from bot.conversation.eligibility import (
    FORM_SLOTS,
    OPTIONAL_SLOTS,
    YES_NO_SLOTS,
    answers_from_slots,
    next_slot,
    result_details,
    result_summary,
)
from bot.conversation.form_answers import NOT_UNDERSTOOD, UNKNOWN, nationality, vulnerabilities, yes_no
from casework.eligibility import assess
from knowledge.eligibility_rules import country_rules
from knowledge.loader import knowledge_base

FORM = "eligibility_form"
MAX_FAILURES = 2
REASK = {"elig_nationality": "utter_reask_elig_nationality", "elig_months": "utter_reask_elig_months",
         "elig_vulnerability": "utter_ask_elig_vulnerability"}


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _slots(tracker: Tracker) -> dict[str, Any]:
    names = [*FORM_SLOTS, "country_residence", "country_origin"]
    return {name: tracker.get_slot(name) for name in names}


def parse_answer(slot: str, tracker: Tracker) -> Any:
    """The value for `slot` from the latest message, or NOT_UNDERSTOOD."""
    message = tracker.latest_message
    intent = latest_intent(tracker)
    text = message.get("text") or ""
    if slot == "elig_nationality":
        if intent == "dont_know":
            return UNKNOWN
        codes = [str(e["value"]) for e in message.get("entities") or [] if e.get("entity") == "country"]
        return nationality(codes)
    if slot == "elig_months":
        if intent in ("dont_know", "skip"):
            return UNKNOWN
        months = parse_months(text, today())
        return float(months) if months is not None else NOT_UNDERSTOOD
    if slot == "elig_vulnerability":
        return vulnerabilities(intent, text)
    if slot in YES_NO_SLOTS:
        return yes_no(intent, text, optional=slot in OPTIONAL_SLOTS)
    return NOT_UNDERSTOOD


class ValidateEligibilityForm(FormValidationAction):
    """Asks only what the engine still needs, and reads each answer as a person would."""

    def name(self) -> str:
        return "validate_eligibility_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: dict[str, Any]) -> list[str]:
        residence = tracker.get_slot("country_residence")
        kb = knowledge_base()
        if not residence:
            return ["country_residence"]
        if residence not in kb.residence:
            return []  # the result action explains which countries the check covers
        following = next_slot(_slots(tracker), country_rules(kb, residence), today())
        return [following] if following else []

    async def extract_elig_answer(self, slot: str, tracker: Tracker) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != slot:
            return {}
        if latest_intent(tracker) in BYPASS_INTENTS:
            return {}
        value = parse_answer(slot, tracker)
        failures = int(tracker.get_slot("elig_failures") or 0)
        if value is NOT_UNDERSTOOD:
            if failures + 1 >= MAX_FAILURES:
                # Asked again once with an example already: do not insist, offer a person.
                return {slot: UNKNOWN, "elig_failures": 0.0, "elig_offer_person": True}
            return {"elig_failures": float(failures + 1)}
        return {slot: value, "elig_failures": 0.0}

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        events: list[dict[str, Any]] = []
        if requested in FORM_SLOTS:
            updates = await self.extract_elig_answer(requested, tracker)
            if updates.pop("elig_offer_person", False):
                dispatcher.utter_message(response="utter_elig_offer_person")
            events += [SlotSet(k, v) for k, v in updates.items()]
            tracker.add_slots(events)
        return events + await super().run(dispatcher, tracker, domain)


# Messages that are not an answer: the form lets rules handle them (safety, stop, why...).
BYPASS_INTENTS = {
    "report_distress", "cancel", "ask_why", "talk_to_human", "request_return_help", "start_over",
    "change_language", "delete_my_data", "bot_challenge", "goodbye", "help", "ask_case_status",
    "ask_return_programs", "ask_reentry", "ask_qualification_recognition", "ask_reintegration_services",
    "ask_customs_benefits", "ask_documents", "ask_oss_contact", "ask_privacy",
}


class AskEligibilityQuestion(Action, ABC):
    """action_ask_<slot>: the question, or the question again with an example.

    Abstract, so the action server registers only the concrete one per slot below.
    """

    @property
    @abstractmethod
    def slot(self) -> str: ...

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        failures = int(tracker.get_slot("elig_failures") or 0)
        kb = knowledge_base()
        country = tracker.get_slot("country_residence")
        name = kb.country_name(country, reply_language(tracker)) if country else ""
        if failures:
            dispatcher.utter_message(response=REASK.get(self.slot, "utter_reask_yes_no"), country=name)
        else:
            dispatcher.utter_message(response=f"utter_ask_{self.slot}", country=name)
        return []


for _slot in FORM_SLOTS:
    globals()[f"AskEligibility_{_slot}"] = type(f"AskEligibility_{_slot}", (AskEligibilityQuestion,), {"slot": _slot})


class ActionEligibilityResult(Action):
    """The result in plain words, reasons with sources, documents, re-entry, and the offer."""

    def name(self) -> str:
        return "action_eligibility_result"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge_base()
        language = reply_language(tracker)
        residence = tracker.get_slot("country_residence")
        if residence not in kb.residence:
            dispatcher.utter_message(response="utter_country_not_covered",
                                     country=kb.country_name(str(residence), language))
            return [SlotSet(s, None) for s in FORM_SLOTS]
        rules = country_rules(kb, residence)
        result = assess(answers_from_slots(_slots(tracker)), rules, today())
        names = {line.id: line.name[language] for line in rules.lines}
        dispatcher.utter_message(
            response=f"utter_elig_result_{result.outcome}",
            country=kb.country_name(residence, language),
            lines=", ".join(names.get(line, line) for line in result.lines),
        )
        if result.priority == "high":
            dispatcher.utter_message(response="utter_elig_priority")
        titles = {key: domain_text(domain, f"utter_elig_{key}_title", language)
                  for key in ("reasons", "documents", "reentry")}
        for part in result_details(result, language, titles):
            dispatcher.utter_message(text=part)
        dispatcher.utter_message(response="utter_elig_offer_intake")
        await count_step("eligibility_checked", tracker)
        return [SlotSet("eligibility_result", result_summary(result)), SlotSet("last_topic", "eligibility")]


class ActionEligibilityStop(Action):
    """Stop the check at any point: nothing decided, the answers of this check cleared."""

    def name(self) -> str:
        return "action_eligibility_stop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_elig_stopped")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("elig_failures", 0.0),
                *[SlotSet(s, None) for s in FORM_SLOTS]]


class ActionExplainQuestion(Action):
    """"¿Para qué?": why the current question is asked; the form then asks it again."""

    def name(self) -> str:
        return "action_explain_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        response = f"utter_why_{requested}" if requested else "utter_greet"
        if response not in (domain.get("responses") or {}):
            response = "utter_greet"
        dispatcher.utter_message(response=response)
        return []
