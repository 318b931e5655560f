"""Connectors, one module per system: Kafka sources and sinks, recordings as files, the Redis
mirror, offer ledger and model store, and the breaker that guards Redis calls."""
