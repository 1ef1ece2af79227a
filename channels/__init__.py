"""Rasa input/output channels: REST, WhatsApp (Twilio) and Telegram.

Channels know nothing of the knowledge base or the actions: they check who is calling,
turn provider payloads into UserMessages (typed text stays text), and render replies.
"""

from casework.log_privacy import install_own_debug_only

install_own_debug_only()  # before anything logs a message: Rasa's DEBUG output carries text
