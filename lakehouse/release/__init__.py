"""Release checks run against a deployed service: the smoke test and the canary judge."""
