"""Mixed precision: ``Learner(amp="bf16" | "fp16")`` runs the forward pass and the loss under
``torch.autocast`` (weights stay float32); fp16 adds a ``torch.amp.GradScaler`` so small gradients do not
underflow. ``amp=None`` (default) is plain float32. bf16 is the choice on recent GPUs and on CPUs;
fp16 needs the scaler and suits older GPUs.

Example::

    learn = Learner(data, device="auto", amp="bf16", channels_last=True)
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

AMP_MODES = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The autocast context and the backward/step of one batch for an ``amp`` mode on ``device``."""

    def __init__(self, amp: str | None, device: torch.device):
        if amp not in AMP_MODES:
            raise ValueError(f"amp={amp!r}: expected one of {list(AMP_MODES)}")
        self.amp, self.device = amp, device
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

    def autocast(self):
        """Autocast to the amp dtype, or nothing for float32."""
        if self.amp is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_MODES[self.amp])

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        """``loss.backward()`` and ``opt.step()``, through the gradient scaler for fp16."""
        if self.scaler is None:
            loss.backward()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()

    def state_dict(self) -> dict:
        """The gradient scaler's state (its scale and growth tracker; empty without one)."""
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``, Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
