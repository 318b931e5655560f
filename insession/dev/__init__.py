"""For development and tests on one machine: local Kafka (KRaft, jars from Maven) and Redis."""
