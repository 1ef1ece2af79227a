"""Production stores for the Rasa server: a PostgreSQL tracker store and a Redis lock store.

Rasa 3.6's own stores fail quietly: the agent wraps every tracker store in a fail-safe
that answers from an empty in-memory tracker when the database is down (a blank restart
of the person's conversation), and its Redis ticket lock is a read-modify-write that two
replicas can both "win". These stores fail loudly instead and keep one turn per person at
a time across replicas. They are loaded by module path from `deploy/endpoints.yml`.
"""
