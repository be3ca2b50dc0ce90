"""Training engine: schedule, steps, checkpoints, logging, distributed helpers, trainer."""
