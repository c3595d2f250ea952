"""The pipeline monitor: a web page (overview, instances, detail with a history timeline,
actions, SQL rows) over a `MonitorSource` — a local devhost or a deployed app."""

from devhost.monitor.routes import add_monitor_routes
from devhost.monitor.sources import LocalSource, MonitorSource, RemoteSource

__all__ = ["LocalSource", "MonitorSource", "RemoteSource", "add_monitor_routes"]
