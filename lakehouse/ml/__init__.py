"""Models on Gold: training, evaluation, tracking, the registry and its promotion gate.

Data flows one way: a Gold table read at a pinned Delta version -> a time-based split ->
a scikit-learn Pipeline -> an MLflow run and a registered model version that names the exact
table versions it learned from, so ``lakehouse reproduce`` can rebuild it by time travel.
"""
