"""The toolkit every workflow is built from (deterministic: no I/O, clock or randomness).

``calls`` (activities by name, one timeout and retry policy; local calls with the
workflow's own retry threshold), ``ledger`` (idempotency keys and ``ActionRejected``),
``updates`` (one declaration per human action: name, rule, effect), ``lanes`` (ordered
per-recipient queues), ``projection`` (coalesced projection writes), ``waiting`` (movable
deadlines, warnings and reminders).
"""
