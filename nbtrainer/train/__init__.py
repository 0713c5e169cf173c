"""The engine: Learner, its event loop and callbacks, SGDR, lr_find, precompute, state and checkpoints,
predictions and export. Imports data and model only."""
