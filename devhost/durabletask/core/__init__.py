"""DurableTask.Core's behaviour: the orchestration executor (replay), the dispatchers and the
task hub client, written against the work-item boundary in `service`."""
