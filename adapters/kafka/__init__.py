"""Kafka adapters on confluent-kafka."""
