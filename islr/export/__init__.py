"""Export of trained models for serving: TFLite in the competition's signature."""
