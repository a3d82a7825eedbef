"""`cruncan cleanup`."""
