"""dlcore.utils: the paths PyTorch programs import (``dlcore.utils.data``, ...)."""
from . import data  # noqa: F401
