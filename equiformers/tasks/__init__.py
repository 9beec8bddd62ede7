"""Tasks: output heads, losses and metrics."""
