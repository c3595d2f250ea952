import json
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df


class City:
    """A user-defined activity input: the SDK serializes it through to_json/from_json."""

    def __init__(self, country: str, name: str) -> None:
        self.country = country
        self.name = name

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "country": self.country})

    @classmethod
    def from_json(cls, text: str) -> "City":
        data = json.loads(text)
        return cls(name=data["name"], country=data["country"])

    def __str__(self) -> str:
        return f"City(name= {self.name}, country= {self.country})"


def orchestrator_function(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, list[Any]]:
    greetings = []
    for city in ("Tokyo", "Seattle", "London"):
        greetings.append((yield context.call_activity("Hello", city)))
    number = yield context.call_activity("Print", 123)
    cities = yield context.call_activity("PrintArray", ["Tokyo", "Seattle", "Cairo"])
    paris = yield context.call_activity("PrintObject", City("France", "Paris"))
    return [*greetings, number, cities, paris]


main = df.Orchestrator.create(orchestrator_function)
