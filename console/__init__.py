"""The staff console of the One Stop Shop offices (Flask): queue, tickets, live handoff, funnel.

It imports only `casework` (and `knowledge` through it); every database query and every
office-scoping rule lives in `casework.queue`, `casework.staff` and `casework.funnel`.
It talks to the Rasa server over its HTTP API (`console.rasa_api`), never by importing Rasa.
"""
