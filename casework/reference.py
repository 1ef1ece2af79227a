"""What the staff console needs from `knowledge/`, passed through `casework` (its only door).

The console imports `casework` only (ARCHITECTURE.md); these are the knowledge base, the
needs vocabulary and the texts a person sees when staff join or leave a conversation.
"""

from __future__ import annotations

from knowledge.handoff import HANDOFF_TEXTS, handoff_text
from knowledge.loader import knowledge_base
from knowledge.model import NEEDS, KnowledgeBase

__all__ = ["HANDOFF_TEXTS", "NEEDS", "KnowledgeBase", "handoff_text", "knowledge_base"]
