"""What a new message tells us about the person's context: reply language and countries.

Runs on every user turn (the `action_extract_context` custom slot mapping) and returns
only the slots that change.
"""

from __future__ import annotations

import re
from typing import Any

from bot.nlu.language import SUPPORTED, choose_reply_language
from knowledge import ORIGIN_COUNTRIES, RESIDENCE_COUNTRIES

CORRECTION_CUES = re.compile(
    r"\b(no,? espera|espera|perd[oó]n|me equivoqu[eé]|quise decir|en realidad|corrijo|"
    r"desculp[ae]|na verdade|quis dizer|me enganei|corrig|sorry|actually|i mean|correction|"
    r"wait|no no)\b",
    re.IGNORECASE,
)


def _entities(message: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in message.get("entities") or [] if e.get("entity") == name]


def language_updates(message: dict[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
    intent = (message.get("intent") or {}).get("name")
    metadata = message.get("metadata") or {}
    requested = None
    targets = [e.get("value") for e in _entities(message, "target_language")]
    only_a_language_name = len((message.get("text") or "").split()) <= 2
    if intent == "change_language" or (targets and only_a_language_name):
        # "english please", or a language button ("Português") whatever intent NLU chose
        requested = next((t for t in reversed(targets) if t in SUPPORTED), None)
    if requested is None and metadata.get("language") in SUPPORTED:
        requested = metadata["language"]  # the client states it (CONTRACT: metadata.language)
    confirmed = bool(slots.get("language_confirmed"))
    current = slots.get("language") if confirmed else None
    chosen = choose_reply_language(current, message.get("language_guess"), requested,
                                   metadata.get("language_hint"))
    updates: dict[str, Any] = {}
    if chosen and chosen != slots.get("language"):
        updates["language"] = chosen
    if chosen and not confirmed:
        updates["language_confirmed"] = True
    return updates


def country_updates(message: dict[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
    """Origin and residence countries from what the person said about themselves.

    A country with an explicit role ("soy de", "vivo en") fills that slot. A country with
    no role fills the slot it naturally belongs to only when that slot is empty; a bare
    country ("¿y en Chile?") otherwise stays a topic of the question, not a fact about the
    person. A stated fact that contradicts an earlier one is held in `pending_country`
    for the assistant to ask which is right, unless the person says it is a correction.
    """
    updates: dict[str, Any] = {}
    mentioned = [str(e.get("value") or "").upper() for e in _entities(message, "country")]
    pending = slots.get("pending_country")
    if pending:
        # The assistant asked which of two countries is right: settle it, or drop it.
        slot, new = str(pending).split(":", 1)
        updates["pending_country"] = None
        if new in mentioned:
            updates[slot] = new
            if slot == "country_residence":
                updates["region_residence"] = None
        if new in mentioned or slots.get(slot) in mentioned:
            return updates
    correcting = bool(CORRECTION_CUES.search(message.get("text") or ""))
    for entity in _entities(message, "country"):
        code = str(entity.get("value") or "").upper()
        role = entity.get("role")
        if not code:
            continue
        if role is None:
            if code in RESIDENCE_COUNTRIES and not slots.get("country_residence"):
                role = "residence"
            elif code not in RESIDENCE_COUNTRIES and not slots.get("country_origin"):
                role = "origin"
            else:
                continue
        if role == "origin" and code in RESIDENCE_COUNTRIES:
            # "¿puedo regresar a España después?" is about going back to Europe (re-entry),
            # not where the person comes from: the network's people come from outside the EU.
            continue
        slot = "country_residence" if role == "residence" else "country_origin"
        current = updates.get(slot, slots.get(slot))
        if current and current != code and not correcting:
            updates["pending_country"] = f"{slot}:{code}"
            continue
        if current != code:
            updates[slot] = code
            if slot == "country_residence":
                updates["region_residence"] = None
    for place in message.get("places") or []:
        country, region = place.get("country"), place.get("region")
        if country in RESIDENCE_COUNTRIES and place.get("role") != "origin":
            if not updates.get("country_residence") and not slots.get("country_residence"):
                updates["country_residence"] = country
            if region and (updates.get("country_residence") or slots.get("country_residence")) == country:
                updates["region_residence"] = region
        elif country in ORIGIN_COUNTRIES and place.get("role") == "origin" and not slots.get("country_origin"):
            updates.setdefault("country_origin", country)
    needs = [e.get("value") for e in _entities(message, "need")]
    if needs:
        updates["need"] = needs[-1]
    return updates


def context_updates(message: dict[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
    updates = language_updates(message, slots)
    updates.update(country_updates(message, slots))
    return updates
