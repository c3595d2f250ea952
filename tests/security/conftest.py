from tests.harness import pipeline_factory  # noqa: F401 - shared fixture
