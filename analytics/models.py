"""Derived data: per-day figures, user statistics, alerts, credit profiles."""
