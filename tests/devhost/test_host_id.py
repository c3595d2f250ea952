"""The local host id, as `func start` derives it (azure-functions-host
src/WebJobs.Script/Host/ScriptHostIdProvider.cs GetDefaultHostId L34-70 and
src/WebJobs.Script/Utility.cs GetStableHash L960-976): receipts, the scan cursor and the
`azure-webjobs-blobtrigger-{hostId}` queue are keyed by it, so two apps on one machine and one
Azurite must get different ids."""

from __future__ import annotations

from pathlib import Path

from devhost.config import HostConfig, default_host_id, stable_hash


def test_stable_hash_is_the_hosts_31_multiplier_hash_over_utf16_as_int32() -> None:
    assert stable_hash("") == 23
    assert stable_hash("abc") == ((23 * 31 + 97) * 31 + 98) * 31 + 99
    # wraps like C#'s unchecked int arithmetic
    long_path = "/home/someone/projects/image-metadata-pipeline"
    h = 23
    for ch in long_path:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    assert stable_hash(long_path) == (h - (1 << 32) if h >= 1 << 31 else h)
    assert -(1 << 31) <= stable_hash(long_path) < (1 << 31)


def test_default_host_id_sanitizes_truncates_lowercases() -> None:
    host_id = default_host_id("Build-Box_07", "/srv/app")
    assert host_id == f"buildbox07-{abs(stable_hash('/srv/app'))}"
    assert len(default_host_id("A" * 40, "/x")) == 32
    assert not default_host_id("abc" + "x" * 28, "/y").endswith("-")


def test_two_apps_on_one_machine_get_different_ids(tmp_path: Path) -> None:
    a = HostConfig(app_dir=tmp_path / "app-a", host_json={}, settings={})
    b = HostConfig(app_dir=tmp_path / "app-b", host_json={}, settings={})
    assert a.host_id != b.host_id


def test_explicit_host_id_setting_wins(tmp_path: Path) -> None:
    cfg = HostConfig(tmp_path, {}, {"AzureFunctionsWebHost__hostid": "my-fixed-id"})
    assert cfg.host_id == "my-fixed-id"


def test_hub_name_setting_overrides_host_json_like_the_functions_host() -> None:
    host_json = {"extensions": {"durableTask": {"hubName": "ImageMetadataHub"}}}
    assert HostConfig(Path("."), host_json).hub_name == "ImageMetadataHub"
    override = {"AzureFunctionsJobHost__extensions__durableTask__hubName": "Run42"}
    assert HostConfig(Path("."), host_json, override).hub_name == "Run42"
