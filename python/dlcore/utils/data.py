"""``dlcore.utils.data``: the names of torch.utils.data (implemented in dlcore.data)."""
from ..data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                    Sampler, SequentialSampler, StackDataset, Subset, SubsetRandomSampler, TensorDataset,
                    WeightedRandomSampler, WorkerInfo, default_collate, default_convert, get_worker_info,
                    random_split)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
           "get_worker_info", "random_split"]
