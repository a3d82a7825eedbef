"""`cruncan relay`: publishes the transactional outbox to Kafka."""
