"""Privacy at the door: PII encryption, pseudonyms, consent history, PII-free logging."""

from persona.privacy.consent import consent_state, record_consent
from persona.privacy.crypto import PIICipher
from persona.privacy.logsafe import hashed_id

__all__ = ["PIICipher", "consent_state", "hashed_id", "record_consent"]
