"""Human actions declared once: one decorator binds an update's name, rule and effect.

A workflow's action is three things Temporal needs apart: the update handler, its
validator (which refuses a wrong action before it enters history) and what the action
does. ``human_update`` builds the first two from the third and a rule, so each action is
written once::

    @case_update(Update.URGE, rule=lambda wf, a: wf.state.check_supervisor(a.actor))
    def urge(self, action: UrgeCase) -> str:
        ...  # the effect; returns the answer's message

The handler and validator go through the workflow's own ``act`` and ``guard`` (the
idempotency ``Ledger``: an exact repeat gets the stored answer, a reused key is refused),
so a rule runs in the validator only, and the effect runs once per key. The update's
argument type is read from the effect's annotation; names come from
``schemas.platform.updates.Update``, which the API and the bot use too.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.platform.common import HumanAction
    from schemas.platform.updates import Update

A = TypeVar("A", bound=HumanAction)
O = TypeVar("O")  # noqa: E741  (the answer's type)


class Acting(Protocol):
    """What a workflow offers its declared actions (its ``Ledger`` behind both)."""

    def guard(self, action: Any, rule: Callable[[], object]) -> None: ...

    def act(self, action: Any, apply: Callable[[Any], str]) -> Any: ...


Rule = Callable[[Any, Any], object]
Effect = Callable[[Any, Any], str]


def human_update(name: Update, rule: Rule, result: type[O]) -> Callable[[Effect], Any]:
    """Declare the decorated effect as update ``name``, validated by ``rule(wf, action)``
    (raising ``ActionRejected``), answered with a ``result``."""

    def declare(effect: Effect) -> Any:
        model = typing.get_type_hints(effect)["action"]

        def handler(self: Acting, action: Any) -> Any:
            return self.act(action, lambda a: effect(self, a))

        def validator(self: Acting, action: Any) -> None:
            self.guard(action, lambda: rule(self, action))

        handler.__annotations__ = {"action": model, "return": result}
        validator.__annotations__ = {"action": model, "return": None}
        handler.__name__, handler.__qualname__ = effect.__name__, effect.__qualname__
        handler.__doc__ = effect.__doc__
        declared: Any = workflow.update(name=name.value)(handler)
        declared.validator(validator)
        return declared

    return declare


class Declare(Protocol):
    """``@declare(Update.NAME, rule=...)`` on an effect."""

    def __call__(self, name: Update, rule: Rule) -> Callable[[Effect], Any]: ...


def answering(result: type[O]) -> Declare:
    """One workflow's declaration decorator: its actions all answer with ``result``."""

    def declare(name: Update, rule: Rule) -> Callable[[Effect], Any]:
        return human_update(name, rule, result)

    return declare
