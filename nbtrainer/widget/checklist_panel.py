"""The checklist panel, sized for a laptop: one compact line per step (status, name, the LRs it will use or
its result, Run, Back), then Run next / Run all / Stop, the next LR, a message line, and a detail
area for the selected step (its one-line "why", its editable parameters, its error). A click on a step's
name selects it; otherwise the detail area follows the step that runs, or the next one to run.

CSS classes (stable, for the browser tests and for styling): the panel ``nbt-checklist``; each row
``nbt-step`` and ``nbt-step-<i>``; in a row ``nbt-status`` (plus ``nbt-status-<status>`` on the row),
``nbt-step-name``, ``nbt-detail``, ``nbt-run``, ``nbt-back``; the selected row ``nbt-selected``; each step's
detail box ``nbt-step-detail`` and ``nbt-step-detail-<i>`` holding ``nbt-why``, ``nbt-param-<name>`` and
``nbt-error``; the buttons ``nbt-run-next``, ``nbt-run-all``, ``nbt-stop``; the message
``nbt-message``; the LR line ``nbt-next-lr``.

The panel forwards clicks and edits to the handlers it is given and renders what :meth:`render` gets.

Example::

    panel = ChecklistPanel(model.steps, handlers)    # the model's traits; handlers: see ChecklistPanel.HANDLERS
    panel.render(model)                                  # a TrainerModel (or anything with its traits)
"""
from __future__ import annotations

import html
from collections.abc import Callable

from ipywidgets import HTML, Button, Checkbox, HBox, IntText, Layout, VBox

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


class StepRow(HBox):
    """One step's line; its why, parameters and error are in :attr:`details` (shown in the detail area)."""

    def __init__(self, index: int, step: dict, handlers: dict[str, Callable]):
        """``step``: the model's ``steps[index]`` (name, why, editable params)."""
        self.index = index
        self.status = HTML(layout=Layout(width="24px", flex="0 0 auto"))
        self.status.add_class("nbt-status")
        self.name = Button(description=f"{index + 1}. {step['name']}", tooltip=step["why"],
                           layout=Layout(width="auto", flex="0 1 auto", min_width="120px", max_width="250px"))
        self.name.add_class("nbt-step-name")
        self.name.on_click(lambda _: handlers["select"](index))
        self.detail = HTML(layout=Layout(flex="1 1 auto", overflow="hidden", min_width="60px"))
        self.detail.add_class("nbt-detail")
        self.run = Button(description="Run", button_style="primary", layout=Layout(width="52px", flex="0 0 auto"),
                          tooltip=f"run step {index + 1}")
        self.run.add_class("nbt-run")
        self.run.on_click(lambda _: handlers["run"](index))
        self.back = Button(description="Back", layout=Layout(width="58px", flex="0 0 auto"),
                           tooltip="return to the model as it was right after this step")
        self.back.add_class("nbt-back")
        self.back.on_click(lambda _: handlers["back"](index))
        self.inputs = {n: _param_input(n, v, lambda n_, v_: handlers["param"](index, n_, v_))
                       for n, v in step["params"].items()}
        why = HTML(f"<b>{index + 1}. {html.escape(step['name'])}</b>: "
                   f"<i style='color:#555'>{html.escape(step['why'])}</i>")
        why.add_class("nbt-why")
        self.error = HTML()
        self.error.add_class("nbt-error")
        self.details = VBox([why, HBox(list(self.inputs.values()), layout=Layout(flex_flow="row wrap")), self.error],
                            layout=Layout(display="none"))
        self.details.add_class("nbt-step-detail")
        self.details.add_class(f"nbt-step-detail-{index}")
        super().__init__([self.status, self.name, self.detail, self.run, self.back],
                         layout=Layout(align_items="center", flex_flow="row nowrap", border_bottom="1px solid #eee",
                                       overflow="hidden"))
        self.add_class("nbt-step")
        self.add_class(f"nbt-step-{index}")

    def render(self, status: str, error: str, detail: str, busy: bool, can_go_back: bool, params: dict) -> None:
        if f"nbt-status-{status}" not in self._dom_classes:
            with self.hold_sync():  # one message, not a remove and an add
                for old in [c for c in self._dom_classes if c.startswith("nbt-status-")]:
                    self.remove_class(old)
                self.add_class(f"nbt-status-{status}")
        self.status.value = (f"<span title='{status}' class='nbt-status-text' data-status='{status}' "
                             f"style='color:{COLORS[status]};font-size:1.2em'>{ICONS[status]}</span>")
        self.error.value = f"<pre style='color:#d62728;white-space:pre-wrap'>{html.escape(error)}</pre>" if error else ""
        # wrapped, not cut: what a step kept and why it ended early must be readable without a tooltip
        self.detail.value = (f"<span class='nbt-detail-text' style='display:inline-block;white-space:normal;"
                             f"line-height:1.25;font-size:0.92em;padding:2px 0' title='{html.escape(detail, quote=True)}'>"
                             f"{html.escape(detail)}</span>")
        self.run.disabled = busy
        self.back.disabled = busy or not can_go_back
        for name, box in self.inputs.items():
            box.disabled = busy
            if box.value != params[name]:  # a rejected edit goes back to the step's value
                box.value = params[name]

    def select(self, on: bool) -> None:
        """Show this step's details (and mark its line) or hide them."""
        with self.hold_sync():
            (self.add_class if on else self.remove_class)("nbt-selected")
            self.details.layout.display = None if on else "none"
            self.name.button_style = "info" if on else ""


class ChecklistPanel(VBox):
    """Rows for the steps and the run controls. ``handlers``: see :attr:`HANDLERS`; an optional ``"selected"``
    handler hears of a step the student selects (its index)."""

    HANDLERS = ("run", "back", "param", "run_next", "run_all", "stop")

    def __init__(self, steps: list[dict], handlers: dict[str, Callable], **kwargs):
        missing = [h for h in self.HANDLERS if h not in handlers]
        if missing:
            raise ValueError(f"handlers: missing {missing}; expected {list(self.HANDLERS)}")
        self.selected, self.chosen = 0, False  # the step whose details show; chosen: by a click on its name
        self.on_selected = handlers.get("selected", lambda index: None)
        self.rows = [StepRow(i, step, {**handlers, "select": self.select}) for i, step in enumerate(steps)]
        self.buttons = {}
        for key, label, style in (("run_next", "Run next", "success"), ("run_all", "Run all", ""),
                                  ("stop", "Stop", "danger")):
            button = Button(description=label, button_style=style, layout=Layout(width="110px"))
            button.add_class(f"nbt-{key.replace('_', '-')}")
            button.on_click(lambda _, key=key: handlers[key]())
            self.buttons[key] = button
        self.next_lr = HTML()
        self.next_lr.add_class("nbt-next-lr")
        self.message = HTML()
        self.message.add_class("nbt-message")
        self.detail_area = VBox([row.details for row in self.rows],
                                layout=Layout(border="1px solid #ddd", padding="2px 6px", min_height="64px"))
        self.detail_area.add_class("nbt-detail-area")
        title = HTML("<b>The course checklist</b> <small style='color:#666'>(click a step's name for its "
                     "parameters)</small>")
        super().__init__([title, *self.rows, HBox(list(self.buttons.values())), self.next_lr, self.message,
                          self.detail_area], **kwargs)
        self.add_class("nbt-checklist")
        self.rows[0].select(True)

    def select(self, index: int, chosen: bool = True) -> None:
        """Show step ``index``'s details (``chosen``: by the user, so the panel stops following the run)."""
        self.chosen = self.chosen or chosen
        if chosen:
            self.on_selected(index)
        if index != self.selected:
            self.rows[self.selected].select(False)
            self.rows[index].select(True)
            self.selected = index

    def render(self, model) -> None:
        """Show a :class:`~nbtrainer.widget.model.TrainerModel`'s state."""
        for i, row in enumerate(self.rows):
            row.render(model.statuses[i], model.errors[i], model.details[i], model.busy, model.can_go_back[i],
                       model.steps[i]["params"])
        running = [i for i, s in enumerate(model.statuses) if s == "running"]
        failed = [i for i, s in enumerate(model.statuses) if s == "failed"]
        pending = [i for i, s in enumerate(model.statuses) if s in ("pending", "stopped")]
        follow = (running or failed or pending or [len(self.rows) - 1])[0]
        if running or not self.chosen:  # a run takes the detail area back from the user's choice
            self.select(follow, chosen=False)
            self.chosen = False
        self.buttons["run_next"].disabled = self.buttons["run_all"].disabled = model.busy
        self.buttons["stop"].disabled = not model.busy
        source = LR_SOURCES[model.lr_source]
        raw = (model.lr_curve or {}).get("suggestion")  # the latest sweep's own suggestion
        if model.lr_source == "suggested" and raw and f"{model.lr:.2g}" != f"{raw:.2g}":
            source = f"lr_find suggested {raw:.3g}, kept near the head's LR"  # the unfrozen sweep's bound
        elif model.lr_source == "suggested" and model.lr_curve and not raw:
            source = "the last lr_find suggested none: the LR before it, kept"
        self.next_lr.value = f"Next fit LR (last group): <b class='nbt-lr-value'>{model.lr:.3g}</b> ({source})"
        self.message.value = html.escape(model.message)
