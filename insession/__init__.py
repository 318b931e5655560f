"""insession: real-time in-session personalisation on Kafka, Bytewax, River and Redis."""

__version__ = "0.1.0"
