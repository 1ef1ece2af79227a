"""Custom actions: thin wiring between the tracker and the plain functions.

Each action reads the tracker, calls `bot.conversation`, `knowledge` or `casework`, utters
a domain response by name, and returns events. The action server registers every
Action subclass found in this package's modules.
"""
