"""The prediction service: FastAPI app, model holder, online features, micro-batching."""
