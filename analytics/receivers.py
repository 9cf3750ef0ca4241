"""Receivers of the write side's signals (see transactions/signals.py)."""
