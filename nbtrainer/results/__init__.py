"""What a run produced: the report, the interpretation of a model's errors, the SVC baseline.
Imports train, data and model."""
