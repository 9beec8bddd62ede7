"""Peak tensor memory of a piece of CPU code: the largest total size of the tensors it created that were
alive at the same time (inputs and weights that existed before are not counted).

CPU PyTorch has no allocator statistics (``torch.cuda.max_memory_allocated`` has no CPU twin) and the
resident set size hides freed-and-reused memory, so this counts storages: every tensor an operator returns
is registered by its storage (views share one), and a storage's bytes are released when the last tensor
on it is garbage-collected. Imports only torch, so reference environments can use it too.

    with PeakTensorMemory() as meter:
        model(batch)
    meter.peak_mb
"""

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PeakTensorMemory(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self._refs = {}  # storage data pointer -> [tensors alive on it, bytes]

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # a view of an input that was not created under the meter (weights, the batch) allocates nothing
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor) or tensor.device.type != "cpu":
                continue
            storage = tensor.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if not size:
                continue
            if key in self._refs:
                self._refs[key][0] += 1
            elif key in inputs:
                continue
            else:
                self._refs[key] = [1, size]
                self.live += size
                self.peak = max(self.peak, self.live)
            weakref.finalize(tensor, self._release, key)
        return out

    @property
    def peak_mb(self) -> float:
        return self.peak / 2 ** 20


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB: ``VmHWM`` from ``/proc/self/status``.

    Not ``resource.getrusage(...).ru_maxrss``: Linux keeps that maximum across ``fork`` and ``exec``,
    so a benchmark child started by a parent that had already imported torch reports at least the
    parent's size. Falls back to ``ru_maxrss`` where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
