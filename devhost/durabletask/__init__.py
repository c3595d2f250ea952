"""A Durable Functions backend for devhost, on the DurableTask.AzureStorage layout.

Instances and history live in Azure Table Storage, work travels on Azure queues, and
orchestrator episodes run through the azure-functions-durable SDK's own handle.
"""
