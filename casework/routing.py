"""Which office a case goes to, and which others are told about it.

The rule, in order:

1. The person returns to their origin country, so the One Stop Shop of that country (one of
   the 8 `origin` offices) owns the case when there is one.
2. The European office of the country of residence is informed (it can help before the
   departure): Italy -> eu-it, Portugal -> eu-pt; Spain has two offices, each for its own
   region: eu-es-madrid for "madrid", eu-es-catalonia for "catalonia". When there is no
   origin office, this European office owns the case instead.
3. Someone in the rest of Spain (or whose region is unknown) is covered by neither Spanish
   office: we do not guess Madrid. The fallback office (OEI coordination, configurable via
   FALLBACK_OFFICE_ID) is informed, or owns the case if there is no origin office either.
4. Nothing matches (origin outside the 8 and residence outside ES/IT/PT): the fallback owns it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from knowledge.model import KnowledgeBase, Office

# Spellings people and the NLU use for the two Spanish regions with an office.
REGION_ALIASES: dict[str, str] = {
    "madrid": "madrid",
    "comunidad de madrid": "madrid",
    "community of madrid": "madrid",
    "catalonia": "catalonia",
    "cataluna": "catalonia",
    "catalunya": "catalonia",
    "catalunha": "catalonia",
    "catalogne": "catalonia",
}


@dataclass(frozen=True)
class RoutingDecision:
    """The owner of the case, the offices to inform, and why (reason codes)."""

    primary: str
    inform: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def office_ids(self) -> tuple[str, ...]:
        return (self.primary, *self.inform)


def normalise_region(region: str | None) -> str | None:
    """A region code ("madrid", "catalonia") from the way it was written, or None if not covered."""
    if not region:
        return None
    plain = unicodedata.normalize("NFKD", region).encode("ascii", "ignore").decode().strip().lower()
    return REGION_ALIASES.get(" ".join(plain.split()))


def route_to_office(
    *, origin: str | None, residence: str | None, region: str | None, kb: KnowledgeBase,
    fallback_office_id: str = "fallback",
) -> RoutingDecision:
    """Decide the offices for a case (see the module docstring for the rule)."""
    fallback = kb.office(fallback_office_id).id  # KeyError for a misconfigured fallback
    origin_office = _office(kb, kind="origin", country=origin)
    europe_office, europe_reason = _europe_office(kb, residence=residence, region=region)
    reasons: list[str] = []
    if origin_office is not None:
        reasons.append("origin_office")
        primary = origin_office.id
    if europe_office is not None:
        reasons.append(europe_reason)
        europe_id = europe_office.id
    elif europe_reason:
        reasons.append(europe_reason)  # Spain outside Madrid/Catalonia: the fallback stands in
        europe_id = fallback
    else:
        europe_id = None
    if origin_office is None:
        if europe_id is None:
            return RoutingDecision(primary=fallback, inform=(), reasons=("no_matching_office",))
        return RoutingDecision(primary=europe_id, inform=(), reasons=("no_origin_office", *reasons))
    inform = (europe_id,) if europe_id is not None and europe_id != primary else ()
    return RoutingDecision(primary=primary, inform=inform, reasons=tuple(reasons))


def _office(kb: KnowledgeBase, *, kind: str, country: str | None, region: str | None = None) -> Office | None:
    if not country:
        return None
    code = country.strip().upper()
    return next((o for o in kb.offices if o.kind == kind and o.country == code and o.region == region), None)


def _europe_office(kb: KnowledgeBase, *, residence: str | None, region: str | None) -> tuple[Office | None, str]:
    if not residence:
        return None, ""
    code = residence.strip().upper()
    regional = [o for o in kb.offices if o.kind == "europe" and o.country == code and o.region is not None]
    if not regional:
        office = _office(kb, kind="europe", country=code)
        return office, ("residence_office" if office is not None else "")
    wanted = normalise_region(region)
    office = next((o for o in regional if o.region == wanted), None)
    if office is None:
        return None, "region_not_covered"
    return office, "residence_office"
