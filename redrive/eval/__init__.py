"""Evaluation: metrics (one definition each) and the held-out protocol."""
