"""The product-sync benchmark: ``python -m bench.run`` (see bench/run.py and bench/README.md)."""
