"""Routing: the origin country's One Stop Shop owns the case, the residence's office is informed."""

from __future__ import annotations

import pytest

from casework.routing import RoutingDecision, normalise_region, route_to_office
from knowledge.loader import knowledge_base
from knowledge.model import KnowledgeBase

ORIGIN_OFFICES = {"PE": "oss-pe", "BO": "oss-bo", "CO": "oss-co", "BR": "oss-br",
                  "EC": "oss-ec", "PY": "oss-py", "CL": "oss-cl", "UY": "oss-uy"}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return knowledge_base()


@pytest.mark.parametrize(("origin", "office"), sorted(ORIGIN_OFFICES.items()))
def test_each_origin_country_has_its_one_stop_shop(kb: KnowledgeBase, origin: str, office: str) -> None:
    decision = route_to_office(origin=origin, residence="IT", region=None, kb=kb)
    assert decision == RoutingDecision(primary=office, inform=("eu-it",), reasons=("origin_office", "residence_office"))


@pytest.mark.parametrize(("residence", "region", "informed"), [
    ("ES", "madrid", "eu-es-madrid"),
    ("ES", "Comunidad de Madrid", "eu-es-madrid"),
    ("ES", "catalonia", "eu-es-catalonia"),
    ("ES", "Cataluña", "eu-es-catalonia"),
    ("es", "CATALUNYA", "eu-es-catalonia"),
    ("IT", None, "eu-it"),
    ("IT", "Lombardia", "eu-it"),  # Italy has one office for the whole country
    ("PT", None, "eu-pt"),
])
def test_the_european_office_of_the_residence_is_informed(
    kb: KnowledgeBase, residence: str, region: str | None, informed: str,
) -> None:
    decision = route_to_office(origin="pe", residence=residence, region=region, kb=kb)
    assert decision.primary == "oss-pe"
    assert decision.inform == (informed,)
    assert decision.office_ids == ("oss-pe", informed)


@pytest.mark.parametrize("region", [None, "", "andalucia", "Valencia", "Madrid city centre"])
def test_spain_outside_madrid_and_catalonia_informs_the_fallback_not_madrid(kb: KnowledgeBase, region: str | None) -> None:
    decision = route_to_office(origin="BO", residence="ES", region=region, kb=kb)
    assert decision == RoutingDecision(primary="oss-bo", inform=("fallback",), reasons=("origin_office", "region_not_covered"))


def test_without_an_origin_office_the_european_office_owns_the_case(kb: KnowledgeBase) -> None:
    decision = route_to_office(origin="AR", residence="ES", region="madrid", kb=kb)
    assert decision == RoutingDecision(primary="eu-es-madrid", inform=(), reasons=("no_origin_office", "residence_office"))
    assert route_to_office(origin=None, residence="PT", region=None, kb=kb).primary == "eu-pt"


def test_without_origin_office_nor_covered_region_the_fallback_owns_the_case(kb: KnowledgeBase) -> None:
    assert route_to_office(origin="AR", residence="ES", region="galicia", kb=kb).office_ids == ("fallback",)


@pytest.mark.parametrize(("origin", "residence"), [("AR", "FR"), (None, None), ("VE", "DE"), (None, "US")])
def test_nothing_matching_goes_to_the_fallback_alone(kb: KnowledgeBase, origin: str | None, residence: str | None) -> None:
    decision = route_to_office(origin=origin, residence=residence, region=None, kb=kb)
    assert decision == RoutingDecision(primary="fallback", inform=(), reasons=("no_matching_office",))


def test_origin_office_alone_when_residence_has_no_office(kb: KnowledgeBase) -> None:
    assert route_to_office(origin="CL", residence="FR", region=None, kb=kb).office_ids == ("oss-cl",)


def test_the_fallback_office_is_configurable_and_must_exist(kb: KnowledgeBase) -> None:
    decision = route_to_office(origin="AR", residence="FR", region=None, kb=kb, fallback_office_id="eu-pt")
    assert decision.primary == "eu-pt"
    with pytest.raises(KeyError):
        route_to_office(origin="PE", residence="ES", region=None, kb=kb, fallback_office_id="nowhere")


def test_every_routed_office_exists_in_the_network(kb: KnowledgeBase) -> None:
    ids = {office.id for office in kb.offices}
    for origin in [*ORIGIN_OFFICES, "AR", None]:
        for residence in ["ES", "IT", "PT", "FR", None]:
            for region in ["madrid", "catalonia", "murcia", None]:
                decision = route_to_office(origin=origin, residence=residence, region=region, kb=kb)
                assert set(decision.office_ids) <= ids
                assert len(set(decision.office_ids)) == len(decision.office_ids)


def test_region_spellings() -> None:
    assert normalise_region("  Cataluña ") == "catalonia"
    assert normalise_region("madrid") == "madrid"
    assert normalise_region("Sevilla") is None
    assert normalise_region(None) is None
