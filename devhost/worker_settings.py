"""The two app settings that size the Python worker: its thread pool and its process count.

- `PYTHON_THREADPOOL_THREAD_COUNT`: azure-functions-python-worker 7e6acf36 `dispatcher.py`
  `_get_sync_tp_max_workers` (L949-985) with `utils/common.py` `get_app_setting` (L49-89): on
  Python 3.9 and later there is no default (ThreadPoolExecutor's own, min(32, cpus + 4)); a
  value that is not an integer, or below 1, is logged as a warning and the default is used.
- `FUNCTIONS_WORKER_PROCESS_COUNT`: azure-functions-host 89dc438d
  `RpcWorkerConfigFactory.GetWorkerProcessCount` (L237-272): int.Parse of the setting (a
  non-number stops the host), values under 1 count as 1, more than MaxProcessCount (10,
  `WorkerProcessCountOptions.cs`) is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from devhost.config import ConfigError

log = logging.getLogger("devhost")

THREAD_COUNT = "PYTHON_THREADPOOL_THREAD_COUNT"
PROCESS_COUNT = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESS_COUNT = 10  # WorkerProcessCountOptions.MaxProcessCount


def threadpool_max_workers(settings: Mapping[str, str]) -> int | None:
    """The worker's `max_workers` for its sync pool: None leaves ThreadPoolExecutor's default."""
    value = settings.get(THREAD_COUNT)
    if value is None:
        return None
    try:
        count = int(value)
    except ValueError:
        log.warning("%s must be an integer", THREAD_COUNT)
        return None
    if count < 1:
        log.warning(
            "%s must be set to a value between %s and sys.maxint. Reverting to default value "
            "for max_workers",
            THREAD_COUNT,
            1,
        )
        return None
    return count


def worker_process_count(settings: Mapping[str, str]) -> int:
    """How many Python worker processes the host would start (1 when unset)."""
    value = settings.get(PROCESS_COUNT, "")
    if not value:
        return 1
    try:
        count = int(value.strip())
    except ValueError:
        raise ConfigError(
            f"{PROCESS_COUNT} '{value}' is not an integer: the host cannot start"
        ) from None
    count = max(count, 1)
    if count > MAX_PROCESS_COUNT:
        raise ConfigError(
            f"{PROCESS_COUNT}={count}: ProcessCount must not be greater than MaxProcessCount "
            f"({MAX_PROCESS_COUNT}): the host cannot start"
        )
    return count


def process_count_note(count: int, workers: int) -> str | None:
    """The start line saying how devhost maps the process count (None when nothing differs)."""
    if count <= 1 and workers == 0:
        return None
    source = "" if workers == count - 1 else ", --workers wins"
    return (
        f"activities run in {workers} extra devhost process(es) ({PROCESS_COUNT}={count}"
        f"{source}); orchestrators and blob/HTTP triggers stay in the host's process, where "
        f"Azure spreads every invocation over {count} worker process(es)"
    )
