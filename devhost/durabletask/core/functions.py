"""The extension's registry of known functions (DurableTaskExtension's `knownOrchestrators` /
`knownActivities`, keyed by `FunctionName`, whose equality is `StringComparison.OrdinalIgnoreCase`:
FunctionName.cs L60-86): every lookup by name ignores case, and an unknown name gets the
extension's own message (DurableTaskExtension.cs L1325-1377, GetInvalid*FunctionMessage)."""

from __future__ import annotations

from devhost.contracts import FunctionRunner

ORCHESTRATOR = "orchestrationTrigger"
ACTIVITY = "activityTrigger"
_KIND = {ORCHESTRATOR: "orchestrator", ACTIVITY: "activity"}


class FunctionCatalog:
    """Name lookups over the host's loaded functions, as the extension makes them."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner

    def known(self, trigger: str) -> list[str]:
        return [n for n in self.runner.function_names() if self.runner.trigger_type(n) == trigger]

    def resolve(self, name: str, trigger: str) -> str | None:
        """The loaded function `name` denotes (ignoring case), or None."""
        if self.runner.trigger_type(name) == trigger:
            return name
        folded = name.casefold()
        return next((n for n in self.known(trigger) if n.casefold() == folded), None)

    def unknown_message(self, name: str, trigger: str) -> str:
        """The ArgumentException text of ThrowIfFunctionDoesNotExist."""
        kind = _KIND[trigger]
        known = self.known(trigger)
        info = (
            f"The following are the known {kind} functions: '" + "', '".join(known) + "'."
            if known
            else f"No {kind} functions are currently registered!"
        )
        return (
            f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
            f"Additional info: {info}"
        )
