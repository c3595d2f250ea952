"""host.json settings devhost refuses at start, as the Durable extension refuses them."""

from __future__ import annotations

import pytest

from devhost.config import ConfigError, validate_hub_name


# AzureStorageOptions.ValidateHubName (azure-functions-durable-extension,
# src/WebJobs.Extensions.DurableTask/Options/AzureStorageOptions.cs), called from
# AzureStorageDurabilityProviderFactory.EnsureInitialized for a hub name set in host.json: the
# name must pass NameValidator's blob, container, table and queue rules, and be at most 50 long.
@pytest.mark.parametrize("hub", ["ImageMetadataHub", "abc", "Run42", "A" * 50])
def test_valid_hub_names(hub: str) -> None:
    validate_hub_name(hub)


@pytest.mark.parametrize(
    "hub", ["Image-Metadata_Hub", "ab", "1Hub", "Hub name", "Hub-1", "A" * 51, ""]
)
def test_invalid_hub_names_are_refused_with_the_extensions_message(hub: str) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_hub_name(hub)
    assert str(refused.value).startswith(
        f"Task hub name '{hub}' should contain only alphanumeric characters, start with a "
        "letter, and have length between 3 and 45"
    )
