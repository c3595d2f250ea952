"""The Durable extension's HTTP API (`HttpApiHandler`): `/runtime/webhooks/durabletask/...` and
the SDK's RPC endpoint."""
