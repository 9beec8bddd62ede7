"""Learning-rate schedule: linear warm-up, then cosine decay to ``min_lr``."""

import math


def warmup_cosine_lr(progress: float, warmup_fraction: float, lr: float, warmup_lr: float, min_lr: float) -> float:
    """Learning rate at ``progress`` in [0, 1] of the training budget.

    Example:
        >>> warmup_cosine_lr(0.0, 0.1, 1.0, 0.0, 0.0), warmup_cosine_lr(1.0, 0.1, 1.0, 0.0, 0.0)
        (0.0, 0.0)
        >>> warmup_cosine_lr(0.1, 0.1, 1.0, 0.0, 0.0)
        1.0
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup_fraction > 0 and progress < warmup_fraction:
        return warmup_lr + (lr - warmup_lr) * progress / warmup_fraction
    decay = (progress - warmup_fraction) / max(1.0 - warmup_fraction, 1e-12)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * decay))
