"""ImageFolder: one sub-folder per class of PNG/JPEG images, read with Pillow."""
import os

import numpy as np

from ..dataset import Dataset
from ..transforms import ToTensor

__all__ = ["ImageFolder", "IMG_EXTENSIONS"]

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("ImageFolder needs Pillow to decode images (pip install pillow)") from e
    return Image


class ImageFolder(Dataset):
    """``root/<class>/<image>`` like torchvision's ImageFolder: ``classes`` are the sorted folder
    names, ``class_to_idx`` maps them to labels, ``samples`` lists (path, label). Images are read
    as RGB uint8 (H, W, 3) numpy arrays and passed to ``transform``; without one they become
    float32 (3, H, W) tensors in [0, 1] (ToTensor)."""

    def __init__(self, root, transform=None, target_transform=None, extensions=IMG_EXTENSIONS):
        self._image = _pil()
        if not os.path.isdir(root):
            raise FileNotFoundError(f"ImageFolder: {root!r} is not a directory")
        self.root = root
        self.classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: no class folders found in {root!r}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        exts = tuple(e.lower() for e in extensions)
        self.samples = []
        for c in self.classes:
            for dirpath, _, files in sorted(os.walk(os.path.join(root, c), followlinks=True)):
                for name in sorted(files):
                    if name.lower().endswith(exts):
                        self.samples.append((os.path.join(dirpath, name), self.class_to_idx[c]))
        if not self.samples:
            raise FileNotFoundError(f"ImageFolder: no image files ({', '.join(exts)}) found in the class folders "
                                    f"of {root!r}")
        self.targets = [s[1] for s in self.samples]
        self.transform = ToTensor() if transform is None else transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        with self._image.open(path) as im:
            img = np.asarray(im.convert("RGB"))
        img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return f"ImageFolder(root={self.root!r}, classes={len(self.classes)}, size={len(self)})"
