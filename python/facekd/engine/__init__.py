"""Training engine: trainer, checkpoints, EMA, metrics (import the submodules directly)."""
