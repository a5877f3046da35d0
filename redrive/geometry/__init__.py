"""Rigid transforms and camera projection (numpy, float64): the math every stage shares."""
