"""`cruncan worker`: forwards requests from Kafka to the third party (service "two")."""
