"""DurableTask.Core's data: history events, runtime statuses, orchestration state, messages.

The vocabulary both the core (dispatch, replay) and the storage backends speak; it imports
nothing else of devhost."""
