"""Evaluation: scoring photo by photo with intervals, the baselines, the hint sweep, the records a run
keeps (metrics.json, per_image.csv), and the comparison report."""
