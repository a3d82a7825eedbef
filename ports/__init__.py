"""The interfaces the core needs from the outside world, spoken in domain types."""
