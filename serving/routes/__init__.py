"""One router per resource."""

from serving.routes import delivery, fraud, health, metrics, models

ROUTERS = (health.router, delivery.router, fraud.router, models.router, metrics.router)
