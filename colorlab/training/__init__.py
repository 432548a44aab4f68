"""Training: the LightningModule, its callbacks and loggers, and run folders."""
