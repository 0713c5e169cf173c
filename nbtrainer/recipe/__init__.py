"""The course checklist as data: its settings, steps, actions, step checkpoints, script export.
Imports results, train, data and model; never the widget."""
