"""The recipe as data: steps run in order, a cancelled fit leaves its step 'stopped', and run() resumes it."""
from __future__ import annotations

import nbtrainer as nbt

from .conftest import small_learner


class StopAtFirstBatch(nbt.Callback):
    def after_batch(self):
        raise nbt.CancelFitException()


def test_a_stopped_step_is_resumed_by_the_next_run():
    learn = small_learner(n=80)
    checklist = nbt.Checklist.recipe(learn, lr=1e-2, aug_cycles=1, unfrozen_cycles=1, tta_n=1)
    head = checklist.steps[0]
    stopper = StopAtFirstBatch()
    learn.add_callback(stopper)
    checklist.run_step(head)
    assert head.status == "stopped" and len(learn.recorder.iterations) == 1
    learn.remove_callback(stopper)
    checklist.run()
    assert [s.status for s in checklist.steps] == ["done"] * 5
    assert checklist.steps[3].result["lrs"] == [1e-2 / 9, 1e-2 / 3, 1e-2] and learn.n_frozen == 0
    assert 0 <= checklist.steps[-1].result["accuracy"] <= 1
