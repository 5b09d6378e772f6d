"""Idempotency keys of human actions, one rule for every workflow (case, inspection, hazard).

A key names one request: the same caller sending the same update with the same body. Per
key the workflow keeps a receipt (update name, actor, a fingerprint of the body) and the
answer. An exact repeat gets the stored answer and changes nothing; the same key with
another caller, update or body is refused by the *validator* with
``idempotency_key_reused`` (HTTP 409), so it never enters history. Before this, any
action under a known key skipped the validator and got the first action's answer: a
supervisor's cancel sent under another supervisor's urge key answered "urged" and the
cancel was lost (Stripe's rule, which we follow now: keys are scoped to the request).

Only validators and handlers use this, and neither issues commands, so histories recorded
before it replay unchanged. On replay validators do not run; a handler that meets a key it
already knows returns the stored answer whatever the body, exactly as the old code did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas.platform.common import Actor, HumanAction
    from schemas.platform.updates import fingerprint


class ActionRejected(ApplicationError):
    """A human action that the case's current state does not allow (HTTP 409 to the caller)."""

    def __init__(self, message: str, code: str = "rejected") -> None:
        super().__init__(message, type=code, non_retryable=True)


A = TypeVar("A", bound=HumanAction)
O = TypeVar("O")  # noqa: E741  (the stored answer's type)

REUSED = "idempotency_key_reused"


@dataclass(frozen=True)
class Receipt(Generic[O]):
    """What was asked under one key, and what was answered."""

    update: str
    actor: Actor
    fingerprint: str
    answer: O


def _update_name(action: HumanAction) -> str:
    info = workflow.current_update_info()
    return info.name if info is not None else type(action).__name__


class Ledger(Generic[O]):
    """Receipts per idempotency key for one workflow run (validators read, handlers write)."""

    def __init__(self) -> None:
        self._receipts: dict[str, Receipt[O]] = {}

    def guard(self, action: HumanAction, rule: Callable[[], object]) -> None:
        """Validator body: an exact repeat passes (it gets the stored answer), a reused key
        is refused, a new key goes through ``rule``."""
        receipt = self._receipts.get(action.idempotency_key)
        if receipt is None:
            rule()
            return
        if receipt.update != _update_name(action):
            raise ActionRejected(
                f"this Idempotency-Key was used for {receipt.update}; use a new key", REUSED
            )
        if receipt.actor != action.actor:
            raise ActionRejected("this Idempotency-Key was used by another caller", REUSED)
        if receipt.fingerprint != fingerprint(action):
            raise ActionRejected(
                "this Idempotency-Key was used with another body; use a new key", REUSED
            )

    def act(self, action: A, apply: Callable[[A], O]) -> O:
        """Handler body: the stored answer for a known key (never an error: the validator
        has already refused a reuse, and on replay the old code answered the same), else
        apply the action and keep its receipt."""
        key = action.idempotency_key
        receipt = self._receipts.get(key)
        if receipt is not None:
            return receipt.answer
        answer = apply(action)
        name = _update_name(action)
        self._receipts[key] = Receipt(name, action.actor, fingerprint(action), answer)
        return answer
