"""Experiments: sweeps, export, the `--require` quality requirements."""
