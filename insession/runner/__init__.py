"""Running the engine: assembling it from the settings, the live flow on Kafka, replays of
recordings (one process or a local cluster), recovery and clean stops, and replay reports."""
