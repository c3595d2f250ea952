"""The FunctionRunner the durable engine and the blob trigger call: each invocation becomes
`meta.Datum`s for azure.functions' converters, as the Python worker builds them."""

from __future__ import annotations

import importlib
import json
import uuid
from typing import Any

from azure.functions import meta

from devhost.bindings import BindingIO
from devhost.contracts import BlobTriggerEvent, FunctionInvocationError
from devhost.invoker import Invoker, Result
from devhost.loader import CLIENT_TYPES, FunctionSpec


class HostRunner:
    """Runs the loaded functions for the engine (FunctionRunner) and the blob trigger."""

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        invoker: Invoker,
        client_json: str,
        io: BindingIO | None = None,
    ):
        self.functions = functions
        self.invoker = invoker
        self._client_json = client_json  # the durableClient input datum's JSON
        self.io = io  # blob input/output and queue output bindings

    def set_client_json(self, client_json: str) -> None:
        """Once the RPC listener has its port: the durableClient datum names it."""
        self._client_json = client_json

    def trigger_type(self, function_name: str) -> str | None:
        spec = self.functions.get(function_name)
        return spec.trigger.type if spec else None

    def function_names(self) -> list[str]:
        return sorted(self.functions)

    def common_inputs(self, spec: FunctionSpec) -> dict[str, meta.Datum]:
        return {
            b.name: meta.Datum(type="string", value=self._client_json)
            for b in spec.inputs
            if b.type in CLIENT_TYPES
        }

    async def run_orchestrator(self, function_name: str, context_json: str) -> str:
        spec = self._spec(function_name, "orchestrationTrigger")
        data = {spec.trigger.name: meta.Datum(type="string", value=context_json)}
        result = await self.invoker.invoke(function_name, data, {}, "OrchestratorEpisode")
        return self._returned(spec, result)

    async def invoke(
        self,
        spec: FunctionSpec,
        data: dict[str, meta.Datum],
        trigger_metadata: dict[str, meta.Datum],
        reason: str,
        binding_data: dict[str, str],
    ) -> Result:
        """One invocation with its input bindings read first and output bindings written after
        success; a binding that cannot be read or written fails the invocation."""
        if self.io is not None:
            try:
                data = {**data, **await self.io.inputs(spec, binding_data)}
            except Exception as exc:
                raise FunctionInvocationError(spec.name, str(exc), type(exc).__name__) from exc
        result = await self.invoker.invoke(spec.name, data, trigger_metadata, reason)
        if self.io is not None:
            try:
                await self.io.write_outputs(spec, result.datums, binding_data)
            except Exception as exc:
                raise FunctionInvocationError(spec.name, str(exc), type(exc).__name__) from exc
        return result

    async def run_activity(
        self, function_name: str, input_json: str | None, instance_id: str | None = None
    ) -> str:
        """One activity run. Its output bindings can use the binding data the extension's
        ActivityTriggerBinding gives (ActivityTriggerAttributeBindingProvider.cs L143-156):
        `{instanceId}` (a new Guid when run by hand through the admin API, L113-123) and
        `{data}`, the input when it is a JSON scalar."""
        spec = self._spec(function_name, "activityTrigger")
        data = {
            spec.trigger.name: meta.Datum(type="json", value=input_json or "null"),
            **self.common_inputs(spec),
        }
        binding_data = {"instanceId": instance_id or str(uuid.uuid4())}
        scalar = _json_scalar(input_json)
        if scalar is not None:
            binding_data["data"] = scalar
        result = await self.invoke(spec, data, {}, "ActivityTask", binding_data)
        return self._returned(spec, result)

    def _returned(self, spec: FunctionSpec, result: Result) -> str:
        """The JSON text of the implicit output, encoded inside the invocation (a `$return`
        of another type leaves the trigger's own encoding)."""
        datum = result.returned
        if datum is None:
            datum = self.invoker.registry.get(spec.trigger.type).encode(
                result.value, expected_type=None
            )
        return str(datum.value)

    def _spec(self, name: str, trigger: str) -> FunctionSpec:
        spec = self.functions.get(name)
        if spec is None or spec.trigger.type != trigger:
            raise FunctionInvocationError(
                name,
                f"The function '{name}' doesn't exist, is disabled, "
                f"or is not an {trigger} function.",
            )
        return spec

    async def handle_blob(self, ev: BlobTriggerEvent) -> None:
        spec = self.functions[ev.target.function_name]
        full = f"{ev.target.container}/{ev.blob_name}"
        tm = {
            "BlobTrigger": meta.Datum(type="string", value=full),
            "Uri": meta.Datum(type="string", value=ev.uri),
            "Properties": meta.Datum(type="json", value=json.dumps(ev.properties)),
            "Metadata": meta.Datum(type="json", value=json.dumps(ev.metadata)),
            **{k: meta.Datum(type="string", value=v) for k, v in ev.binding_data.items()},
        }
        data = {
            spec.trigger.name: meta.Datum(type="bytes", value=ev.content),
            **self.common_inputs(spec),
        }
        binding_data = {"BlobTrigger": full, "Uri": ev.uri, **ev.binding_data}
        await self.invoke(spec, data, tm, f"New blob detected: {full}", binding_data)


def _json_scalar(text: str | None) -> str | None:
    try:
        value: Any = json.loads(text or "null")
    except ValueError:
        return None
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value)


async def close_sdk_session() -> None:
    """The Durable SDK keeps one shared aiohttp session per process; close it on shutdown."""
    try:
        http_utils = importlib.import_module("azure.durable_functions.models.utils.http_utils")
    except ImportError:
        return
    close = getattr(http_utils, "_close_session", None)
    if close is not None:
        await close()
