"""Predictions about customers: churn, propensity, lifetime value, next purchase, revenue forecast."""
