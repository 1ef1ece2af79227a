"""Durations and dates as people write them, in es/pt/en."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.conversation.durations import parse_months

TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("hace 3 años", 36),
        ("2 años y medio", 30),
        ("un año y medio", 18),
        ("18 meses", 18),
        ("desde 2019", 94),
        ("desde marzo de 2024", 32),
        ("llegué en 2025", 22),
        ("faz dois anos", 24),
        ("um ano e meio", 18),
        ("há 8 meses", 8),
        ("since 2020", 82),
        ("three years", 36),
        ("6 months", 6),
        ("about a year", 12),
        ("5 semanas", 1),
        ("tres años y 4 meses", 40),
    ],
)
def test_durations_people_write_are_understood(text: str, months: int) -> None:
    assert parse_months(text, TODAY) == months


@pytest.mark.parametrize("text", ["hace mucho", "no sé", "não lembro", "a while", "", "bastante tiempo"])
def test_vague_answers_are_not_guessed(text: str) -> None:
    assert parse_months(text, TODAY) is None
