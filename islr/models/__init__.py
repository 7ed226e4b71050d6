"""Models: in-graph preprocessing, layers and the model zoo."""
