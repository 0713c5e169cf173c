"""``Trainer``: the whole app in one widget, laid out for a laptop screen (1366x768) in Teachable Machine's order,
one tab a stage: **1. Your pictures** (classes made and pictures added, or a standard set; the data and its
augmentation), **2. Train** (the checklist panel on the left; on the right the plot the current step needs: the
LR-finder curve with the ratio sliders during and after ``lr_find``, the live training curves during a fit, the
student can switch; below, the stage progress and the downloads of what a student takes home: the script, the
model file, the report), **3. Check mistakes** (interpretation and the cleaner) and **4. Try it** (predict).

The views hold no training logic: a :class:`~nbtrainer.widget.model.TrainerModel` does (through the
engine), the views forward clicks to it and redraw from its traits.

Example::

    import nbtrainer as nbt
    from nbtrainer.widget import Trainer
    learn = nbt.Learner(nbt.ImageData.demo(size=64))
    Trainer(learn)                                  # the last line of a cell displays it
"""
from __future__ import annotations

import html
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from ipywidgets import HTML, HBox, Layout, Stack, ToggleButtons, VBox

from ..data.places import Places
from ..recipe.checklist import Checklist
from ..train.learner import Learner
from .checklist_panel import ChecklistPanel
from .data_view import ConfirmBar, DataView
from .downloads import Downloads
from .lr_plot import LRPlot
from .model import TrainerModel
from .ratio_sliders import RatioSliders
from .render import hold_all
from .results_view import InterpretView, PredictView, StageProgress, png_bytes
from .training_plot import TrainingPlot

SESSION_ROOT = "nbtrainer-session"
PLOTS = {"LR finder": 0, "Training": 1}  # the right-hand plots, by their toggle's label
PAGES = ("1. Your pictures", "2. Train", "3. Check mistakes", "4. Try it")  # the top tabs, in a class's order
PICTURES, TRAIN, MISTAKES, TRY = range(len(PAGES))
STARTS = {"pictures": PICTURES, "train": TRAIN}  # the page a Trainer opens on (its ``start``)
STEP_PLOTS = {"lr_find": "LR finder", "differential": "LR finder", "fit": "Training"}  # the plot a step needs
# a step's name wraps instead of being cut ("8. Train everyt..."): ipywidgets' buttons never wrap by themselves
STYLE = ("<style>.nbt-trainer .nbt-step-name.jupyter-button {white-space: normal !important; height: auto !important; "
         "min-height: 28px; line-height: 1.2 !important; text-align: left; padding: 3px 8px !important; "
         "text-overflow: clip !important} "
         # the top tabs as tabs: a line under them, the one on show joined to its page
         ".nbt-trainer .nbt-page-choice {border-bottom: 1px solid #bbb; padding-left: 4px; margin-bottom: 6px} "
         ".nbt-trainer .nbt-page-choice .widget-toggle-button {border-radius: 6px 6px 0 0; margin-bottom: -1px; "
         "font-weight: 600; border: 1px solid #ccc} "
         ".nbt-trainer .nbt-page-choice .widget-toggle-button.mod-active {background: #fff; box-shadow: none; "
         "border-color: #bbb #bbb #fff; color: #1565c0}</style>")
DOWNLOAD_HELP = {
    "script": "recipe.py: the steps run so far as a Python script that trains the same model again",
    "model": "model.safetensors: the trained classifier (weights only, safe to share); "
             "nbtrainer.Predictor.from_file loads it",
    "report": "report.html: the steps, their results and the training plots on one page",
    "onnx": "model.onnx: the classifier with its preprocessing, for any ONNX runtime (Python, C#, Java, a phone)",
    "web": "web-page.zip: a page that runs the classifier in any browser, offline (pictures or the camera); "
           "unzip it and serve the folder (README.txt inside says how)"}


def default_folder() -> Path:
    """A new folder ``nbtrainer-session/<date-time>-<random>/`` of this session alone (made here, atomically,
    readable by its owner only: two students who open the app in the same second get two folders): its
    uploads, undo journals, step checkpoints and exported script."""
    Path(SESSION_ROOT).mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=SESSION_ROOT))


class Trainer(VBox):
    """The course checklist as a notebook app.

    Args:
        learn: a :class:`~nbtrainer.Learner` (the course recipe is built for it) or a ready
            :class:`~nbtrainer.Checklist`.
        folder: the session's folder for uploads, step checkpoints and the exported script. Default: a new
            folder of its own, ``nbtrainer-session/<date-time>-<random>/``.
        rate: live updates per second at most. Default: 4.
        data_roots: folders besides the session's own that "Train on this folder" may use (and their
            sub-folders), e.g. a bundled example folder; the learner's own data folder is one. More come from
            the environment variable ``NBTRAINER_DATA_ROOTS`` (separated by ``os.pathsep``). Any other path on
            the server is refused. These roots are read only: uploads and the cleaner change only the session
            folder and the learner's own data folder.
        start: the page it opens on: ``"pictures"`` (1. Your pictures, for a class that brings its own) or
            ``"train"`` (2. Train, when code already chose the data). Default: pictures.
        **recipe: arguments of :meth:`nbtrainer.Checklist.recipe` (``lr``, ``ratio``, ``head_cycles``...).
    """

    def __init__(self, learn: Learner | Checklist, folder: str | Path | None = None, rate: float = 4.0,
                 data_roots: Iterable[str | Path] = (), start: str = "pictures", **recipe):
        if start not in STARTS:
            raise ValueError(f"start={start!r}: expected one of {sorted(STARTS)} (the page the app opens on)")
        self.folder = Path(folder) if folder is not None else default_folder()
        if isinstance(learn, Checklist):
            checklist = learn
            checklist.checkpoint_dir = checklist.checkpoint_dir or self.folder / "checkpoints"
        else:
            checklist = Checklist.recipe(learn, checkpoint_dir=self.folder / "checkpoints", **recipe)
        own = checklist.learn.data.root
        places = Places(self.folder, data_roots, writable=[own] if own is not None else [])
        self.model = model = TrainerModel(checklist, rate=rate, data_root=self.folder / "data", places=places)
        self.stage_progress = StageProgress()
        self.predictor = PredictView(on_upload=model.predict_bytes, on_frame=model.predict_frame)
        # the question before a write shows where it was asked: with the pictures and with the mistakes
        self.confirm, self.clean_confirm = ConfirmBar(on_answer=model.answer), ConfirmBar(on_answer=model.answer)
        self.data_view = DataView(on_show=model.show_data, model=model, confirm_bar=self.confirm)
        # under the checklist and again in "4. Try it", where Teachable Machine's order ends: two widgets, as one
        # shown twice would save each file twice (every view of it hears the bytes)
        self.downloads, self.try_downloads = self._downloads(), self._downloads()
        self.plot_choice = ToggleButtons(options=list(PLOTS), value="LR finder", style={"button_width": "120px"})
        self.plot_choice.add_class("nbt-plot-choice")
        self.plot_choice.observe(lambda c: self._show_plot(PLOTS[c["new"]]), names="value")
        # The top tabs: buttons over a Stack, not a Tab, because a Stack draws only the page on show; a Tab
        # draws every page, and bqplot logs errors (negative sizes) for figures drawn in a hidden page.
        self.page_choice = ToggleButtons(options=[(name, i) for i, name in enumerate(PAGES)], value=STARTS[start],
                                         style={"button_width": "auto"})
        self.page_choice.add_class("nbt-page-choice")
        self.pages = Stack()
        self.pages.add_class("nbt-pages")
        self.page_choice.observe(lambda c: self._show_page(c["new"]), names="value")
        super().__init__()
        self._build()
        self._link()
        self.add_class("nbt-trainer")

    def _build(self) -> None:
        """The views of the model's checklist (again after new data: another learner, other steps)."""
        m = self.model  # its traits only: the worker may be changing the checklist
        self.built_for = m.generation  # the checklist these views show (their step and group counts)
        self.panel = ChecklistPanel(m.steps, {
            "run": m.run, "back": m.go_back, "param": m.set_param, "run_next": m.run_next,
            "run_all": m.run_all, "stop": m.stop,
            "selected": lambda index: self.show_plot_for(m.steps[index]["action"])})
        self.lr_plot = LRPlot(on_pick=m.pick_lr)
        self.sliders = RatioSliders(m.group_names, on_change=m.set_ratio, ratios=m.ratios)
        self.training = TrainingPlot(m.group_names, layout=Layout(width="100%"))
        self.interpretation = InterpretView(on_interpret=m.interpret, on_clean=m.clean, on_undo=m.undo_edit,
                                            confirm_bar=self.clean_confirm)
        self.plots = Stack([VBox([self.lr_plot, self.sliders], layout=Layout(width="100%")), self.training],
                           selected_index=0, layout=Layout(width="100%"))
        for i, child in enumerate(self.plots.children):  # which one is on show, for styling and the browser tests
            child.add_class("nbt-plots-on" if i == 0 else "nbt-plots-off")
        self.plot_choice.value = "LR finder"
        right = VBox([self.plot_choice, self.plots], layout=Layout(width="50%", min_width="420px"))
        left = VBox([self.panel, self.stage_progress, self._take_home(self.downloads)],
                    layout=Layout(width="50%", min_width="440px"))
        title = HTML(f"<b>nbtrainer</b> &middot; {html.escape(m.title)}")
        title.add_class("nbt-title")
        plan = HTML(f"<small class='nbt-plan' style='color:#555;line-height:1.3;display:inline-block'>"
                    f"The plan: {html.escape(m.plan)}</small>")
        train = VBox([plan, HBox([left, right], layout=Layout(align_items="flex-start"))])
        with self.pages.hold_sync():
            self.pages.children = [self.data_view, train, self.interpretation,
                                   VBox([self.predictor, self._take_home(self.try_downloads)])]
            self.pages.selected_index = self.page_choice.value
        self.children = [HTML(STYLE), title, self.page_choice, self.pages]
        self.panel.render(m)
        self.sliders.show(m.ratios, m.preview)
        self.lr_plot.show_used(m.lr)

    def _downloads(self) -> Downloads:
        m = self.model
        return Downloads({"script": ("Script", lambda: self.export()),
                          "model": ("Model", lambda: m.save_model_file(self.folder / "model.safetensors")),
                          "report": ("Report", lambda: m.save_report(self.folder / "report.html")),
                          "onnx": ("ONNX", lambda: m.save_onnx(self.folder / "model.onnx")),
                          "web": ("Web page", lambda: m.save_web_page(self.folder / "web-page"))},
                         help=DOWNLOAD_HELP, on_error=lambda text: m.write(message=text))

    @staticmethod
    def _take_home(downloads: Downloads) -> HBox:
        return HBox([HTML("<b style='white-space:nowrap'>Take it home:</b>"), downloads],
                    layout=Layout(align_items="center"))

    def _link(self) -> None:
        """The model's traits -> the views (the "links" of ipywidgets' separating-concerns pattern). Each
        observer looks its view up when it fires, so the views rebuilt for new data are the ones drawn."""
        m = self.model
        # (new data changes several traits at once, in no set order: views of the old checklist skip the
        # changes that come before their rebuild, as their rows and groups are not the new checklist's)
        m.observe(lambda _: self.built_for == m.generation and self.panel.render(m), names=["revision", "message"])
        m.observe(lambda c: self.lr_plot.update(c["new"]), names="lr_update")
        m.observe(lambda c: self.lr_plot.show_result(c["new"]), names="lr_curve")
        m.observe(lambda c: self.lr_plot.show_pick(c["new"]), names="picked_lr")
        m.observe(lambda c: self.lr_plot.show_used(m.lr), names=["lr", "lr_curve"])
        m.observe(lambda _: self.built_for == m.generation and self.sliders.show(m.ratios, m.preview),
                  names=["ratios", "preview"])
        m.observe(lambda c: self.training.update(c["new"]), names=["fit_update", "history"])
        m.observe(lambda c: self.stage_progress.show(c["new"]), names="progress")
        m.observe(lambda c: self.interpretation.show(c["new"], self._image_png), names="interpretation")
        m.observe(lambda c: self.predictor.show(self._with_png(c["new"])), names="prediction")
        m.observe(lambda c: self.data_view.show(c["new"]), names="data_overview")
        m.observe(lambda c: self._aug_changed(c["new"]), names="aug")
        m.observe(lambda c: [bar.show(c["new"]) for bar in (self.confirm, self.clean_confirm)], names="confirm")
        m.observe(lambda c: self.data_view.show_message(m.message), names="message")
        m.observe(lambda c: self.interpretation.show_message(m.message) if self.pages.selected_index == MISTAKES else None,
                  names="message")  # said in "3. Check mistakes" while the student is there (the cleaner)
        m.observe(lambda c: self.interpretation.reset_choices(), names="edits")
        m.observe(lambda c: setattr(self.data_view.folder, "value", m.shown(c["new"])), names="data_root")
        m.observe(lambda c: self._follow(c["new"]), names="running")
        m.observe(lambda _: self._new_data(), names="generation")

    def _show_page(self, index: int) -> None:
        """Tab ``index`` on show; a camera left on in another tab goes off (a Stack keeps hidden pages' views)."""
        self.pages.selected_index = index
        for camera in (self.data_view.camera, self.predictor.camera):
            camera.stop()

    def _new_data(self) -> None:
        """New data (a folder or a set the student chose): the views drawn again, and the Train tab shown, the
        stage that comes next."""
        self._build()
        self.page_choice.value = TRAIN

    def _aug_changed(self, aug: dict) -> None:
        """New augmentation settings: on the controls, and the preview drawn again once the data was shown."""
        self.data_view.show_aug(aug)
        if self.model.data_overview:
            self.model.show_data(self.data_view.draws)

    def _show_plot(self, index: int) -> None:
        with hold_all(self.plots, *self.plots.children):
            self.plots.selected_index = index
            for i, child in enumerate(self.plots.children):
                child.remove_class("nbt-plots-off" if i == index else "nbt-plots-on")
                child.add_class("nbt-plots-on" if i == index else "nbt-plots-off")

    def _follow(self, running: int) -> None:
        """Show the plot a step needs: the LR curve and the ratio sliders for a sweep and for setting the
        differential LRs, the training curves for a fit; when a step starts, and when the next step to run
        sets the differential LRs (the sliders are then what the student works with)."""
        steps = self.model.steps
        if running < 0:
            upcoming = [i for i, s in enumerate(self.model.statuses) if s in ("pending", "stopped")]
            if not upcoming or steps[upcoming[0]]["action"] != "differential":
                return
            running = upcoming[0]
        self.show_plot_for(steps[running]["action"])

    def show_plot_for(self, action: str) -> None:
        """The plot a step of this ``action`` needs (the others leave the choice as it is)."""
        wanted = STEP_PLOTS.get(action)
        if wanted:
            self.plot_choice.value = wanted

    def _image_png(self, index: int) -> bytes:
        pixels = self.model.interp_image(index)
        return png_bytes(pixels, scale=max(1, 96 // max(pixels.shape[:2])))

    @staticmethod
    def _with_png(prediction: dict) -> dict:
        if "pixels" in prediction:
            prediction = {**prediction, "png": png_bytes(prediction["pixels"])}
        return prediction

    def export(self, path: str | Path | None = None) -> Path | None:
        """Write the steps run so far as a script (default ``<folder>/recipe.py``); returns its path."""
        path = Path(path) if path is not None else self.folder / "recipe.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        return self.model.export(path)
