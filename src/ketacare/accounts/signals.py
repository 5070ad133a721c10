"""Account events for the audit trail.

accounts sits below audit in the import layers, so its actions cannot call `audit.record`. They
send these signals instead, and `ketacare.audit.signals` writes the rows. Each is sent with
`send()` inside the action's transaction: the audit row commits with the change, and if writing
it fails the action fails and changes nothing.
"""

from __future__ import annotations

from django.dispatch import Signal

# sender=ApiToken; token=ApiToken, actor=Actor (the token's owner in the token's clinic)
api_token_created = Signal()
api_token_revoked = Signal()
# sender=User; user=User, origin=Origin
mfa_device_confirmed = Signal()
mfa_verification_failed = Signal()
password_reset_completed = Signal()
# sender=None; actor=Actor, permission=str, path=str: a page refused for the actor's role (403)
permission_refused = Signal()
