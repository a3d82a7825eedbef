"""In-memory adapters: production code for the demo mode, and the fakes of the unit tests."""
