from __future__ import annotations

import pytest

from devhost.blobtrigger import parse_blob_path, target_from_binding


def test_name_placeholder_is_greedy_across_folders() -> None:
    p = parse_blob_path("images-input/{name}")
    assert p.container == "images-input"
    assert p.match("cats/nested/1.png") == {"name": "cats/nested/1.png"}


def test_literal_parts_and_several_placeholders() -> None:
    p = parse_blob_path("uploads/{folder}/{stem}.{ext}")
    assert p.match("a/b/photo.jpeg") == {"folder": "a/b", "stem": "photo", "ext": "jpeg"}
    assert parse_blob_path("uploads/{name}.png").match("x.jpg") is None
    assert parse_blob_path("uploads/raw/{name}").match("other/x.png") is None


def test_special_characters_are_literals_not_regex() -> None:
    p = parse_blob_path("c0ntainer/a+b(1)/{name}")
    assert p.match("a+b(1)/x #%.gif") == {"name": "x #%.gif"}
    assert p.match("aab(1)/x.gif") is None


@pytest.mark.parametrize("path", ["", "Images/{name}", "{c}/{name}", "ab/{name", "a/{name}"])
def test_bad_paths_are_rejected_with_a_reason(path: str) -> None:
    with pytest.raises(ValueError, match="blob path"):
        parse_blob_path(path)


def test_target_resolves_connection_and_names_missing_setting() -> None:
    cs = "DefaultEndpointsProtocol=http;AccountName=acct1;AccountKey=a2V5;BlobEndpoint=http://x"
    t = target_from_binding("F", {"path": "images-input/{name}"}, {"AzureWebJobsStorage": cs})
    assert (t.function_id, t.account_name, t.container, t.blob_pattern) == (
        "Host.Functions.F",
        "acct1",
        "images-input",
        "{name}",
    )
    with pytest.raises(ValueError, match="'Other' is not set"):
        target_from_binding("F", {"path": "c1c/{name}", "connection": "Other"}, {})
    with pytest.raises(ValueError, match="not supported locally"):
        target_from_binding(
            "F", {"path": "c1c/{name}", "connection": "S"}, {"S__accountName": "acct"}
        )
