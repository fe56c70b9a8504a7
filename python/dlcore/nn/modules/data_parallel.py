"""DataParallel."""
from ..module import Module


class DataParallel(Module):
    """torch.nn.DataParallel's interface on one device: dlcore does not split a batch across devices,
    so ``forward`` runs the wrapped ``module`` on the whole input. The module is registered as
    ``module`` (state_dict keys "module.*", as torch's), so checkpoints of either load in the other."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be a Module, got {type(module).__name__}")
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
