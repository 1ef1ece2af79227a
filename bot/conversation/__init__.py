"""Plain functions about the conversation (no Rasa import): the actions call these."""
