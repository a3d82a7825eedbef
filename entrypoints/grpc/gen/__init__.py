"""Code generated from `proto/` by `python proto/generate.py`; never edit it by hand."""
