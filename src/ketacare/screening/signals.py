"""Signals the intake sends upwards (eligibility listens; screening does not import it).

`intake_changed(sender=Intake, intake=..., actor=Actor | None, changed=list[str])` is sent inside
the transaction of any change to an intake that was already submitted or reviewed; `changed` names
the fields and facts that changed. The eligibility app flags current decisions for review on it.
"""

from django.dispatch import Signal

intake_changed = Signal()
