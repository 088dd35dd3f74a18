"""What an operator sees: metrics of the scheduled batch jobs (``jobs``) for Prometheus."""
