"""The checklist panel: one row per step (status, name, why, editable parameters, LRs, Run, Back), then
Run next / Run all / Stop / Export and a message line.

CSS classes (stable, for the browser tests and for styling): the panel ``nbt-checklist``; each row
``nbt-step`` and ``nbt-step-<i>``; in a row ``nbt-status`` (plus ``nbt-status-<status>``), ``nbt-step-name``,
``nbt-why``, ``nbt-param-<name>``, ``nbt-detail``, ``nbt-run``, ``nbt-back``, ``nbt-error``; the buttons
``nbt-run-next``, ``nbt-run-all``, ``nbt-stop``, ``nbt-export``; the message ``nbt-message``; the LR line
``nbt-next-lr``.

The panel forwards clicks and edits to the handlers it is given and renders what :meth:`render` gets.

Example::

    panel = ChecklistPanel(checklist.steps, handlers)    # handlers: see ChecklistPanel.HANDLERS
    panel.render(model)                                  # a TrainerModel (or anything with its traits)
"""
from __future__ import annotations

import html
from collections.abc import Callable

from ipywidgets import HTML, Button, Checkbox, HBox, IntText, Layout, VBox

from ..recipe.actions import editable_params

ICONS = {"pending": "○", "running": "◔", "done": "●", "failed": "✖", "stopped": "■"}
COLORS = {"pending": "#888", "running": "#1f77b4", "done": "#2ca02c", "failed": "#d62728", "stopped": "#ff7f0e"}
LR_SOURCES = {"picked": "clicked on the curve", "suggested": "lr_find suggestion", "start": "start"}
LABELS = {"n_cycle": "cycles", "cycle_len": "cycle_len", "cycle_mult": "cycle_mult", "augment": "augment",
          "num_iter": "iterations", "n": "passes"}


def _param_input(name: str, value, on_edit: Callable[[str, object], None]):
    if isinstance(value, bool):
        box = Checkbox(value=value, description=LABELS.get(name, name), indent=False, layout=Layout(width="90px"))
    else:
        box = IntText(value=value, description=LABELS.get(name, name), layout=Layout(width="140px"),
                      style={"description_width": "initial"})
    box.add_class(f"nbt-param-{name}")
    box.observe(lambda change: on_edit(name, change["new"]), names="value")
    return box


class StepRow(VBox):
    """One step's row."""

    def __init__(self, index: int, step, handlers: dict[str, Callable]):
        self.index = index
        self.status = HTML()
        self.status.add_class("nbt-status")
        name = HTML(f"<b>{index + 1}. {html.escape(step.name)}</b>", layout=Layout(width="300px"))
        name.add_class("nbt-step-name")
        why = HTML(f"<i style='color:#555'>{html.escape(step.why)}</i>")
        why.add_class("nbt-why")
        self.inputs = {n: _param_input(n, v, lambda n_, v_: handlers["param"](index, n_, v_))
                       for n, v in editable_params(step).items()}
        self.detail = HTML()
        self.detail.add_class("nbt-detail")
        self.run = Button(description="Run", button_style="primary", layout=Layout(width="70px"),
                          tooltip=f"run step {index + 1}")
        self.run.add_class("nbt-run")
        self.run.on_click(lambda _: handlers["run"](index))
        self.back = Button(description="Back here", layout=Layout(width="95px"),
                           tooltip="return to the model as it was right after this step")
        self.back.add_class("nbt-back")
        self.back.on_click(lambda _: handlers["back"](index))
        self.error = HTML()
        self.error.add_class("nbt-error")
        top = HBox([self.status, name, *self.inputs.values(), self.detail, self.run, self.back],
                   layout=Layout(align_items="center", flex_flow="row wrap"))
        super().__init__([top, why, self.error], layout=Layout(border_bottom="1px solid #eee", padding="2px 0"))
        self.add_class("nbt-step")
        self.add_class(f"nbt-step-{index}")

    def render(self, status: str, error: str, detail: str, busy: bool, can_go_back: bool, step) -> None:
        if f"nbt-status-{status}" not in self._dom_classes:
            with self.hold_sync():  # one message, not a remove and an add
                for old in [c for c in self._dom_classes if c.startswith("nbt-status-")]:
                    self.remove_class(old)
                self.add_class(f"nbt-status-{status}")
        self.status.value = (f"<span title='{status}' style='color:{COLORS[status]};font-size:1.2em'>"
                             f"{ICONS[status]}</span> <span class='nbt-status-text'>{status}</span>")
        self.error.value = f"<pre style='color:#d62728;white-space:pre-wrap'>{html.escape(error)}</pre>" if error else ""
        self.detail.value = html.escape(detail)
        self.run.disabled = busy
        self.back.disabled = busy or not can_go_back
        values = editable_params(step)
        for name, box in self.inputs.items():
            box.disabled = busy
            if box.value != values[name]:  # a rejected edit goes back to the step's value
                box.value = values[name]


class ChecklistPanel(VBox):
    """Rows for the steps and the run controls. ``handlers``: see :attr:`HANDLERS`."""

    HANDLERS = ("run", "back", "param", "run_next", "run_all", "stop", "export")

    def __init__(self, steps: list, handlers: dict[str, Callable], **kwargs):
        missing = [h for h in self.HANDLERS if h not in handlers]
        if missing:
            raise ValueError(f"handlers: missing {missing}; expected {list(self.HANDLERS)}")
        self.steps = steps
        self.rows = [StepRow(i, step, handlers) for i, step in enumerate(steps)]
        self.buttons = {}
        for key, label, style in (("run_next", "Run next", "success"), ("run_all", "Run all", ""),
                                  ("stop", "Stop", "danger"), ("export", "Export script", "")):
            button = Button(description=label, button_style=style, layout=Layout(width="110px"))
            button.add_class(f"nbt-{key.replace('_', '-')}")
            button.on_click(lambda _, key=key: handlers[key]())
            self.buttons[key] = button
        self.next_lr = HTML()
        self.next_lr.add_class("nbt-next-lr")
        self.message = HTML()
        self.message.add_class("nbt-message")
        title = HTML("<h3 style='margin:4px 0'>The course checklist</h3>")
        super().__init__([title, *self.rows, HBox(list(self.buttons.values())), self.next_lr, self.message], **kwargs)
        self.add_class("nbt-checklist")

    def render(self, model) -> None:
        """Show a :class:`~nbtrainer.widget.model.TrainerModel`'s state."""
        for i, row in enumerate(self.rows):
            row.render(model.statuses[i], model.errors[i], model.details[i], model.busy, model.can_go_back[i],
                       self.steps[i])
        self.buttons["run_next"].disabled = self.buttons["run_all"].disabled = model.busy
        self.buttons["export"].disabled = model.busy
        self.buttons["stop"].disabled = not model.busy
        source = LR_SOURCES[model.lr_source]
        self.next_lr.value = f"Next fit LR (last group): <b class='nbt-lr-value'>{model.lr:.3g}</b> ({source})"
        self.message.value = html.escape(model.message)
