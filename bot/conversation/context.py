"""What a new message tells us about the person's context: reply language, countries, cities.

Runs on every user turn (the `action_extract_context` custom slot mapping) and returns
only the slots that change.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bot.nlu.language import SUPPORTED, choose_reply_language
from knowledge import ORIGIN_COUNTRIES, RESIDENCE_COUNTRIES

CORRECTION_CUES = re.compile(
    r"\b(no,? espera|espera|perd[oó]n|me equivoqu[eé]|quise decir|en realidad|corrijo|"
    r"desculp[ae]|na verdade|quis dizer|me enganei|corrig|sorry|actually|i mean|correction|"
    r"wait|no no)\b",
    re.IGNORECASE,
)

# A verb of going back right before a city ("quiero volver a Cusco", "voltar para Santos"):
# only then is an origin-country city where the person returns, not just where they are from.
RETURN_CUES = re.compile(
    r"\b(volver|vuelvo|volvemos|regresar|regreso|regresamos|retornar|retorno|voltar|volto|"
    r"regressar|regresso|return|returning|go back|move back)\b(\W+\w+){0,2}?\W+$",
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
        current = updates.get("country_residence", slots.get("country_residence"))
        if (correcting and place.get("role") == "residence" and country in RESIDENCE_COUNTRIES
                and current and current != country):
            # "no, vivo en Milán": the city's country replaces the residence, as a country would
            updates.update({"country_residence": country, "region_residence": region})
            updates.pop("pending_country", None)
        elif country in RESIDENCE_COUNTRIES and place.get("role") != "origin":
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


def city_updates(message: dict[str, Any], slots: dict[str, Any], countries: dict[str, Any]) -> dict[str, Any]:
    """The residence city, and the city the person returns to, when they clearly said them.

    `countries` are this message's country updates. A remembered city always lies in the
    remembered country: a city of another country is not used, and a changed country
    forgets the city. A different city of the same country replaces the remembered one
    only as a correction; otherwise which is right is unknown, so it is forgotten and
    the intake asks.
    """
    updates: dict[str, Any] = {}
    text = message.get("text") or ""
    correcting = bool(CORRECTION_CUES.search(text))
    wanted = {"city_residence": "country_residence", "city_return": "country_origin"}
    for city_slot, country_slot in wanted.items():
        if country_slot in countries and countries[country_slot] != slots.get(country_slot):
            updates[city_slot] = None
    folded = fold(text)
    for place in message.get("places") or []:
        city, country, role = place.get("city"), place.get("country"), place.get("role")
        if not city or not country:
            continue
        if role == "residence" and country in RESIDENCE_COUNTRIES:
            city_slot = "city_residence"
        elif role == "origin" and country in ORIGIN_COUNTRIES and _after_return_verb(folded, str(city)):
            city_slot = "city_return"
        else:
            continue
        if country != countries.get(wanted[city_slot], slots.get(wanted[city_slot])):
            continue  # a city of another country than the person's: not theirs
        current = updates.get(city_slot, slots.get(city_slot))
        if current and fold(str(current)) != fold(str(city)) and not correcting:
            updates[city_slot] = None
        elif current != city:
            updates[city_slot] = city
    return {slot: value for slot, value in updates.items() if value != slots.get(slot)}


def fold(text: str) -> str:
    """Lower case without accents, so "Cusco" said as "cusco" is the same city."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def _after_return_verb(folded_text: str, city: str) -> bool:
    at = folded_text.find(fold(city))
    return at >= 0 and bool(RETURN_CUES.search(folded_text[:at]))


def context_updates(message: dict[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
    updates = language_updates(message, slots)
    countries = country_updates(message, slots)
    updates.update(countries)
    updates.update(city_updates(message, slots, countries))
    return updates
