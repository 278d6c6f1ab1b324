"""The evaluation lab: protocols and metrics."""
