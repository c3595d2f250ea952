from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from tests.harness import pipeline_factory  # noqa: F401 - shared fixture


@pytest.fixture
def azurite_fresh(tmp_path: Path) -> Iterator[Azurite]:
    server = Azurite(location=tmp_path / "azurite").start()
    yield server
    server.stop()
