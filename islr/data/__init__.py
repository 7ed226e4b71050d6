"""Data layer: the asl-signs format, synthetic data, validation, folds and TFRecords."""
