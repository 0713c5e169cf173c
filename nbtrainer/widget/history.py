"""The recorder's whole history as one live update, for the training plot to redraw from (after "Back", or
when a fit ends and its kept cycle end is known)."""
from __future__ import annotations

from ..present.smoothing import smooth
from ..train.live import LiveUpdate


def history_update(recorder, beta: float = 0.98) -> LiveUpdate:
    """The recorder's whole history as one update (``kind`` "history"), for a view that redraws from
    scratch (e.g. after going back to an earlier step). The training loss is smoothed per stage (each
    checklist step starts its own average, as each fit does in :class:`LiveFeed`); ``restarts`` are the
    iterations where the LR jumps up (an SGDR restart or a new fit)."""
    its = recorder.iterations
    stages = [recorder.epochs[r["epoch"]]["stage"] if r["epoch"] < len(recorder.epochs) else None for r in its]
    smoothed: list[float] = []
    start = 0
    for i in range(1, len(its) + 1):
        if i == len(its) or stages[i] != stages[start]:
            smoothed += smooth([r["loss"] for r in its[start:i]], beta)
            start = i
    ends: dict[int, int] = {}
    for r in its:
        ends[r["epoch"]] = r["iteration"] + 1
    epochs = [{**row, "iteration": ends.get(row["epoch"], 0)} for row in recorder.epochs]
    restarts = [i for i in range(len(its)) if i == 0 or its[i]["lrs"][-1] > its[i - 1]["lrs"][-1] * (1 + 1e-9)]
    return {"kind": "history", "start": {"iteration0": 0, "restarts": restarts},
            "batches": {"iteration": [r["iteration"] for r in its], "loss": [r["loss"] for r in its],
                        "smooth": smoothed, "lrs": [r["lrs"] for r in its]},
            "epochs": epochs, "done": True}
