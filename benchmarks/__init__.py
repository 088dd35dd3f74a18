"""Benchmarks and the load generator the service tests share (not shipped: not a package
that ``setup.cfg`` includes). Scripts here run as ``python benchmarks/<name>.py``."""
