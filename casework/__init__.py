"""The case-work core: eligibility, intake, tickets, outbox and privacy.

The only room that touches SQLAlchemy. It imports `knowledge` and never Rasa, the channels
or the bot, so the rules that decide a person's case are plain, testable Python.
"""
