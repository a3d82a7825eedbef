"""The core of cruncan: pure Python, standard library only."""
