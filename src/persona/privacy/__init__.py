"""Privacy at the door: PII encryption, pseudonyms, consent history, PII-free logging, redaction of free text."""

from persona.privacy.consent import consent_state, record_consent
from persona.privacy.crypto import PIICipher
from persona.privacy.logsafe import hashed_id
from persona.privacy.redact import redact_stored_reviews, redact_text, redact_texts

__all__ = ["PIICipher", "consent_state", "hashed_id", "record_consent", "redact_stored_reviews", "redact_text", "redact_texts"]
