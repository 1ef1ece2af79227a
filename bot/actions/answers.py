"""action_answer: sourced answers from knowledge/ for the person's countries."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.base import latest_intent, reply_language, slot_values
from bot.actions.funnel import count_step
from bot.conversation.answering import INTENT_TOPICS, Plan, plan_answer, plan_contact
from knowledge.loader import knowledge_base

PERSON_SLOTS = ["country_origin", "country_residence", "region_residence", "need", "last_topic"]


def mentioned_countries(tracker: Tracker) -> list[str]:
    return [str(e["value"]).upper() for e in tracker.latest_message.get("entities") or []
            if e.get("entity") == "country" and e.get("value")]


def deliver(dispatcher: CollectingDispatcher, plan: Plan) -> None:
    if plan.answer:
        for message in plan.answer.messages:
            dispatcher.utter_message(text=message)
        dispatcher.utter_message(response="utter_after_answer")
    elif plan.response:
        dispatcher.utter_message(response=plan.response, **plan.params)


class ActionAnswer(Action):
    """Answers the topic of the question, or the last topic for a newly named country."""

    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        slots = slot_values(tracker, PERSON_SLOTS)
        pending = tracker.get_slot("pending_country")
        intent = latest_intent(tracker)
        if pending:
            slot, new = pending.split(":", 1)
            kb = knowledge_base()
            language = reply_language(tracker)
            dispatcher.utter_message(
                response="utter_which_country_is_right",
                old=kb.country_name(str(slots.get(slot)), language), new=kb.country_name(new, language),
            )
            # Once the person says which is right, the question they asked is answered.
            return [SlotSet("last_topic", INTENT_TOPICS[intent][0])] if intent in INTENT_TOPICS else []
        topic = INTENT_TOPICS[intent][0] if intent in INTENT_TOPICS else slots.get("last_topic")
        if not topic:
            dispatcher.utter_message(response="utter_noted")
            return []
        plan = plan_answer(knowledge_base(), topic, tracker.latest_message.get("text") or "",
                           reply_language(tracker), slots, mentioned_countries(tracker))
        deliver(dispatcher, plan)
        await count_step("question_answered", tracker)
        return [SlotSet("last_topic", plan.topic)]


class ActionContactPerson(Action):
    """"I want to talk to a person": the offices that serve the person, and how to reach them."""

    def name(self) -> str:
        return "action_contact_person"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        plan = plan_contact(knowledge_base(), reply_language(tracker), slot_values(tracker, PERSON_SLOTS))
        dispatcher.utter_message(response="utter_contact_person_intro")
        for message in plan.answer.messages if plan.answer else ():
            dispatcher.utter_message(text=message)
        return []
