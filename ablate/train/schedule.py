"""The warmup-stable-decay (wsd) learning-rate schedule, shared by the training loop and nested runs.

    from ablate.train.schedule import wsd_lambda
    torch.optim.lr_scheduler.LambdaLR(opt, wsd_lambda(options, steps))

A linear warmup over `warmup_steps`, a constant rate, then a linear decay over the last
ceil(decay_ratio x T) steps of a T-step run (see ablate.train.nested for why nested volumes need it).
"""

from __future__ import annotations

import math

from ablate.core import UserError


def decay_steps(options, steps: int) -> int:
    """D: the decay of a wsd run of `steps` optimizer steps (ceil keeps T - D non-decreasing in T)."""
    return math.ceil(options.decay_ratio * steps)


def wsd_factor(step: int, warmup: int, total: float, decay: int) -> float:
    """Learning-rate factor at optimizer step `step` (0-based) of a wsd run of `total` steps: (s+1)/(W+1) while
    warming up, 1.0 while stable, (T-s)/(D+1) over the last D steps. total = inf: the stable trunk."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if step >= total - decay:
        return (total - step) / (decay + 1)
    return 1.0


def wsd_lambda(options, steps: int):
    """step -> factor for an independent wsd run of `steps` steps (a LambdaLR's lr_lambda)."""
    decay = decay_steps(options, steps)
    if options.warmup_steps + decay > steps:
        raise UserError(f"lr_scheduler = wsd: warmup_steps {options.warmup_steps} + decay {decay} steps "
                        f"(decay_ratio {options.decay_ratio}) exceed the run's {steps} steps")
    return lambda s: wsd_factor(s, options.warmup_steps, steps, decay)
