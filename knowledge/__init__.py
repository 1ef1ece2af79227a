"""What the assistant knows, as validated data.

The room holds YAML content (answers, offices, safety lines, eligibility rules) and pure
functions over it. It imports nothing from Rasa, SQLAlchemy or the channels, so the same
content serves the bot, the case-work core and the staff console.
"""

LANGUAGES: tuple[str, ...] = ("es", "pt", "en")
ORIGIN_COUNTRIES: tuple[str, ...] = ("PE", "BO", "CO", "BR", "EC", "PY", "CL", "UY")
RESIDENCE_COUNTRIES: tuple[str, ...] = ("ES", "IT", "PT")
EU_COUNTRIES: frozenset[str] = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
