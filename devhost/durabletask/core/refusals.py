"""The calls the extension's context API refuses for an out-of-proc orchestrator, and what devhost
says about them.

DurableOrchestrationContext.CallDurableTaskFunctionAsync (L546-607) checks a call before
scheduling it; its exceptions surface in the task it returns, which the shim awaits inside
`catch (Exception) { }` (OutOfProcOrchestrationShim.cs L210-217): nothing is scheduled, nothing
fails, and the SDK waits for a result that never comes. In Azure the instance hangs Running
without a word (azure-functions-durable-python issue 516); devhost reproduces that and prints
one line saying why.
"""

from __future__ import annotations

import logging

from azure.durable_functions.models.actions.ActionType import ActionType

from devhost.durabletask.core import actions as act
from devhost.durabletask.core.functions import ACTIVITY, ORCHESTRATOR, FunctionCatalog
from devhost.durabletask.core.shim import MAX_DELAY_MS, Node, Refusal
from devhost.durabletask.model.state import Instance

log = logging.getLogger("devhost.durable")
ISSUE_516 = "https://github.com/Azure/azure-functions-durable-python/issues/516"
TOO_LONG = (
    "The Azure Storage provider supports a maximum of 6 days for time-based delays "
    "(Parameter 'FirstRetryInterval')"
)
SAME_ID = (
    "The instance ID of a sub-orchestration must be different than the instance ID of a "
    "parent orchestration."
)
AT_SIGN = "instanceId (Parameter 'Orchestration instance ids must not start with @')"


def refusal(inst: Instance, functions: FunctionCatalog | None) -> Refusal:
    """The checks, in the extension's order, for calls made by `inst` (`functions` None: every
    name is taken as known)."""
    own = {inst.instance_id.casefold()}
    if inst.parent:
        own.add(str(inst.parent["instanceId"]).casefold())

    def refuse(action: act.Action, kind: ActionType) -> str | None:
        if kind is ActionType.CREATE_TIMER:
            return None
        if kind in act.RETRYING:
            # ValidateDelayTime (AzureStorageDurabilityProvider.cs L178-187)
            retry = action.get("retryOptions") or {}
            if int(retry.get("firstRetryIntervalInMilliseconds", 0)) > MAX_DELAY_MS:
                return TOO_LONG
        name = str(action.get("functionName") or "")
        trigger = ACTIVITY if kind in act.ACTIVITIES else ORCHESTRATOR
        if functions is not None and functions.resolve(name, trigger) is None:
            return functions.unknown_message(name, trigger)
        child = action.get("instanceId")
        if kind in act.SUB_ORCHESTRATIONS and isinstance(child, str) and child:
            if child.casefold() in own:
                return SAME_ID
            if child.startswith("@"):
                return AT_SIGN
        return None

    return refuse


class RefusalLog:
    """One line per refused call and execution, however many episodes replay it."""

    def __init__(self) -> None:
        self._said: set[tuple[str, str, str]] = set()

    def tell(self, inst: Instance, refused: list[Node]) -> None:
        for node in refused:
            what = "activity" if node.kind in act.ACTIVITIES else "sub-orchestrator"
            name = str(node.action.get("functionName") or "")
            key = (inst.instance_id, inst.execution_id, f"{what}:{name}:{node.refused}")
            if key in self._said:
                continue
            self._said.add(key)
            log.warning(
                "%s (%s) called %s '%s', which Azure refuses: %s The extension swallows this "
                "error, nothing is scheduled and the instance stays Running, as in Azure (%s).",
                inst.name,
                inst.instance_id,
                what,
                name,
                node.refused,
                ISSUE_516,
            )
