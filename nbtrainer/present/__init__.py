"""Presentation helpers below every layer: HTML tables and inline figures for the reprs, matplotlib drawings,
loss smoothing and short texts. They import no layer of nbtrainer."""
