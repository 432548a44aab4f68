"""Training: the LightningModule, its callbacks and loggers, run folders, and the encoder feature cache."""
