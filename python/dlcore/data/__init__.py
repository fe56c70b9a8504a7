"""Data loading: datasets, samplers, splits, a DataLoader with worker processes, image
transforms and the bundled MNIST (``dlcore.data.datasets.MNIST``). The names PyTorch has in
torch.utils.data are also at ``dlcore.utils.data``."""
from . import datasets, tokenizers, transforms
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader, default_collate, default_convert
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .detection import YOLODataset, detection_collate, letterbox, scale_boxes_back
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "datasets", "tokenizers", "transforms"]
__all__ += ["YOLODataset", "detection_collate", "letterbox", "scale_boxes_back"]
__all__ += ["IterableDataset", "StackDataset", "ChainDataset", "default_convert", "get_worker_info", "WorkerInfo",
            "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
            "BatchSampler"]
