"""Property tests (hypothesis) of the SGDR schedule over its parameters: cycle_len, cycle_mult, n_cycle,
iterations per epoch and per-group LR arrays."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import nbtrainer as nbt
from nbtrainer.train.schedule import cycle_starts

schedules = st.fixed_dictionaries({
    "n_cycle": st.integers(1, 4), "cycle_len": st.integers(1, 3), "cycle_mult": st.integers(1, 3),
    "ipe": st.integers(1, 10),
    "lrs": st.lists(st.floats(1e-6, 1.0, allow_nan=False, allow_infinity=False), min_size=1, max_size=4),
})


@settings(max_examples=60, deadline=None)
@given(schedules)
def test_sgdr_lrs_are_finite_positive_and_restart_on_cycle_boundaries(p):
    series = nbt.preview_lrs(p["lrs"], p["ipe"], p["n_cycle"], p["cycle_len"], p["cycle_mult"])
    total = p["ipe"] * p["cycle_len"] * sum(p["cycle_mult"] ** k for k in range(p["n_cycle"]))
    assert total == p["ipe"] * nbt.sgdr_epochs(p["n_cycle"], p["cycle_len"], p["cycle_mult"])
    assert [len(s) for s in series] == [total] * len(p["lrs"])
    starts = [e * p["ipe"] for e in cycle_starts(p["n_cycle"], p["cycle_len"], p["cycle_mult"])]
    ends = starts[1:] + [total]
    for lr, s in zip(p["lrs"], series):
        assert all(math.isfinite(v) and v > 0 for v in s)
        assert max(s) <= lr * (1 + 1e-12)
        for start, end in zip(starts, ends):
            length = end - start
            assert math.isclose(s[start], lr, rel_tol=1e-9)           # each cycle starts at its max
            last = lr * (1 + math.cos(math.pi * (length - 1) / length)) / 2
            assert math.isclose(s[end - 1], last, rel_tol=1e-6)       # and ends at the cosine's last step
            if length >= 4:
                assert s[end - 1] < 0.15 * lr                           # near its min
            assert all(b <= a * (1 + 1e-12) for a, b in zip(s[start:end], s[start + 1:end]))  # no rise inside
        rises = [i for i in range(1, total) if s[i] > s[i - 1] * (1 + 1e-12)]
        assert set(rises) <= set(starts)                                # restarts only on cycle boundaries
    for i in range(total):  # the groups keep their ratios at every iteration
        for g, lr in enumerate(p["lrs"]):
            assert math.isclose(series[g][i] / series[-1][i], lr / p["lrs"][-1], rel_tol=1e-9)
