"""Datasets: the bundled MNIST and Shakespeare, scikit-learn's digits, IDX files and image folders."""
from .digits import Digits
from .folder import ImageFolder
from .idx import IDX, read_idx, write_idx
from .mnist import MNIST
from .shakespeare import Shakespeare, shakespeare_text
from .shapes import Shapes, make_shapes

__all__ = ["MNIST", "Digits", "IDX", "ImageFolder", "read_idx", "write_idx", "Shakespeare",
           "shakespeare_text"]
__all__ += ["Shapes", "make_shapes"]
from .segsynth import SEGMENTATION_DATASETS, make_shapes2d, make_spheres3d, make_streets
__all__ += ["make_shapes2d", "make_spheres3d", "make_streets"]
