"""DurableTask.AzureStorage: tracking store (tables), message manager, control and work-item
queues, session manager, partitions, in the real provider's storage layout."""
