"""Reconstruction: neural fields of a drive, their training and checkpoints."""
