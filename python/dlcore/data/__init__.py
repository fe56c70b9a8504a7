"""Data loading: datasets, splits, a prefetching DataLoader, image transforms and the bundled
MNIST (``dlcore.data.datasets.MNIST``)."""
from . import datasets, tokenizers, transforms
from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .detection import YOLODataset, detection_collate, letterbox, scale_boxes_back

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "datasets", "tokenizers", "transforms"]
__all__ += ["YOLODataset", "detection_collate", "letterbox", "scale_boxes_back"]
