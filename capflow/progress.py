"""Training progress for the log: steps per second and the time left, every few steps."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

# About this many progress lines per run, whatever its length.
LINES_PER_RUN = 20


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(step: int, max_steps: int, steps_done: int, elapsed: float) -> str:
    """``step 40/200: 2.00 steps/s, 1m20s left``; the rate counts only the steps run since this start."""
    rate = steps_done / elapsed if elapsed > 0 else 0.0
    left = format_duration((max_steps - step) / rate) if rate > 0 else "unknown"
    return f"step {step}/{max_steps}: {rate:.2f} steps/s, {left} left"


def eta_callback(every: int | None = None):
    """A trainer callback logging progress every ``every`` steps (default: about LINES_PER_RUN lines a run)."""
    from transformers import TrainerCallback

    class LogProgress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.perf_counter(), state.global_step  # resumed runs start late
            self.every = every or max(1, state.max_steps // LINES_PER_RUN)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % self.every == 0 and state.global_step < state.max_steps:
                log.info(progress_line(state.global_step, state.max_steps, state.global_step - self.first_step,
                                       time.perf_counter() - self.started))

    return LogProgress()
