"""An open-source lakehouse for machine learning: raw event logs to Delta features, models and
live predictions."""

__version__ = "0.1.0"
