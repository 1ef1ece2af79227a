"""Rasa input/output channels: REST, WhatsApp (Twilio) and Telegram.

Channels know nothing of the knowledge base or the actions: they check who is calling,
turn provider payloads into UserMessages (typed text stays text), and render replies.
"""
