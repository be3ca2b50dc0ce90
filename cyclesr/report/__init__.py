"""The self-contained HTML report of a training run."""
