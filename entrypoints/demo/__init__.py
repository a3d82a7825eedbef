"""`cruncan demo`: the whole flow in one process, every port on its in-memory adapter."""
