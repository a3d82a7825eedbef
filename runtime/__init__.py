"""The machinery that runs the use cases: the consume and relay loops, their threads, backoffs and Kafka positions."""
