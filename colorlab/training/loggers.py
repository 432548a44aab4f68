"""Loggers: Lightning's CSVLogger, made safe for resumed runs."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning import loggers
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


def appending_writer(log_dir: str) -> ExperimentWriter:
    """Lightning's writer for `log_dir`, keeping an existing metrics.csv: Lightning's constructor
    deletes it (no public option says otherwise), so the file is held aside while it runs and its
    columns are handed to the writer, which then appends."""
    path = Path(log_dir) / ExperimentWriter.NAME_METRICS_FILE
    kept = path.read_bytes() if path.is_file() else None
    if kept is not None:
        path.unlink()
    with warnings.catch_warnings():  # "previous log files ... will be deleted": not so here
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        writer = ExperimentWriter(log_dir=log_dir)
    if kept is not None:
        path.write_bytes(kept)
        with open(path, newline="") as file:
            writer.metrics_keys = sorted(next(csv.reader(file), []))
    return writer


class CSVLogger(loggers.CSVLogger):
    """Lightning's CSVLogger, except that a run resumed in its own folder (`ckpt_path=last`) appends
    to `metrics.csv` instead of deleting the history logged before the interruption."""

    appending: ExperimentWriter | None = None

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self.appending is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self.appending = appending_writer(self.log_dir)
        return self.appending
