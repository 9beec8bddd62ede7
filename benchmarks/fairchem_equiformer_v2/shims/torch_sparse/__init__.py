"""Placeholder for the compiled ``torch_sparse``: fairchem's ``setup_imports`` imports every model
module, and DimeNet++/GemNet import ``SparseTensor`` at module level. EquiformerV2 never uses it."""


class SparseTensor:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("torch_sparse is a placeholder here (only EquiformerV2 is run)")
