"""The classifier: pretrained bodies and the fastai head, layer groups, freezing (the bottom layer)."""
