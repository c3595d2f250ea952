"""The SDK's action list as the tree the shim walks: one node per action, compound actions
(task_all / task_any) holding their children, with what replay learned about each."""

from __future__ import annotations

from dataclasses import dataclass, field

from azure.durable_functions.models.actions.ActionType import ActionType

from devhost.durabletask.core import actions as act


@dataclass(eq=False)
class Node:
    """One action of the SDK's list, as the shim invokes it."""

    action: act.Action
    kind: ActionType | None
    children: list[Node] = field(default_factory=list)
    refused: str | None = None
    task_id: int | None = None  # the sequence number history gave it; None while new
    invoked: bool = False
    done: bool = False
    canceled: bool = False
    # A finished task stays finished, so a WhenAll resumes where it stopped and a WhenAny
    # remembers: asked after every history event, a scan from the start made a fan-out of N
    # cost N x its history per episode.
    unfinished_from: int = 0
    any_finished: bool = False

    @property
    def takes_id(self) -> bool:
        return self.kind in act.ID_ACTIONS and self.refused is None

    def finished(self) -> bool:
        if self.kind is ActionType.WHEN_ALL:
            kids = self.children
            while self.unfinished_from < len(kids) and kids[self.unfinished_from].finished():
                self.unfinished_from += 1
            return self.unfinished_from == len(kids)
        if self.kind is ActionType.WHEN_ANY:
            self.any_finished = self.any_finished or any(c.finished() for c in self.children)
            return self.any_finished
        return self.done
