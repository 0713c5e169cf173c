"""The recipe's policy for the whole network's LR (a choice of the recipe, not of the LR range test, which
only measures and suggests: :mod:`nbtrainer.train.suggest`)."""
from __future__ import annotations


def unfrozen_lr(suggestion: float | None, head_lr: float, span: float = 4.0) -> float:
    """The whole network's LR after its sweep: the sweep's suggestion, kept within ``[head_lr / span,
    head_lr]`` (``head_lr`` when there is none).

    Why a bound: the sweep of an unfrozen network runs on a training set that its head already fits
    (training losses of 0.02-0.2 on the photo set), so its curve is flat noise until it diverges and
    the suggestion lands anywhere on it: two sweeps of the same photos run suggested 9.6e-5 and 7.6e-3,
    and on the digits one run suggested 0.0022, 0.0056 or 0.0041 by machine and thread count. The
    default bound, a factor of 2 either side of half the head's LR, is centred on fastai's
    ``fine_tune`` (which trains the unfrozen network at half the head's LR): the pretrained body is
    not trained faster than the new head was, nor much slower. Measured (AdamW, photos, seed 0): the
    sweep's own 1.8e-4 ended the unfrozen step at 89.5%, half the head's LR (9.6e-4) at 92.5%.
    Within the bound the sweep still decides.

    Example::

        unfrozen_lr(9.6e-5, head_lr=0.012)   # 0.003
        unfrozen_lr(7.6e-3, head_lr=0.012)   # 0.0076
    """
    if not (head_lr > 0 and span >= 1):
        raise ValueError(f"head_lr={head_lr!r}, span={span!r}: expected head_lr > 0 and span >= 1")
    if suggestion is None:
        return head_lr
    return min(max(suggestion, head_lr / span), head_lr)
