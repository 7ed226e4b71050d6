"""Evaluation of trained models on the test split, the comparison report (the seed
study's Table 1 with an ensemble row) and registration with a champion gate."""
