"""Real servers for the tests and the benchmarks: start, reach, inspect and stop them.

Plain library code, no pytest: a server that is missing or misbehaves raises `ServerUnavailable`
with a message that says how to fix it; the test fixtures turn that into a failure.
"""
