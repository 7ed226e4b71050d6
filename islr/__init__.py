"""islr: MLOps for isolated sign language recognition on MediaPipe landmarks."""

__version__ = "0.1.0"
