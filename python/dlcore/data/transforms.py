"""Image transforms, like torchvision.transforms, written with dlcore ops.

Images are dlcore tensors (C, H, W) (float in [0, 1] after ToTensor) or, for ToTensor's input,
uint8 numpy arrays (H, W) or (H, W, C). Random choices draw from dlcore's global generator, so
``dlcore.manual_seed`` makes them reproducible.
"""
import numbers

import numpy as np

import dlcore

__all__ = ["Compose", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomCrop", "RandomAffine",
           "ColorJitter", "Lambda"]


def _uniform(low, high):
    return low + (high - low) * dlcore.rand(1, dtype=dlcore.float64).item()


def _randint(low, high):
    """An int in [low, high] (both inclusive)."""
    return int(dlcore.randint(low, high + 1, (1,)).item())


def _check_image(t, name):
    if not isinstance(t, dlcore.Tensor):
        raise TypeError(f"{name}: expected a dlcore tensor image (C, H, W), got {type(t).__name__}")
    if t.dim() < 2:
        raise ValueError(f"{name}: expected an image of shape (..., H, W), got shape {list(t.shape)}")


def _pair(x, name):
    if isinstance(x, numbers.Number):
        return int(x), int(x)
    if len(x) != 2:
        raise ValueError(f"{name}: expected an int or a pair (h, w), got {x!r}")
    return int(x[0]), int(x[1])


class Compose:
    """Apply transforms one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, img):
        return self.fn(img)


class ToTensor:
    """uint8 numpy (H, W) or (H, W, C) -> float32 tensor (C, H, W) in [0, 1]. Float numpy arrays
    are taken as already scaled; dlcore tensors pass through."""

    def __call__(self, pic):
        if isinstance(pic, dlcore.Tensor):
            return pic
        try:
            from PIL import Image
            if isinstance(pic, Image.Image):
                pic = np.asarray(pic)
        except ImportError:
            pass
        arr = np.asarray(pic)
        if arr.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an array (H, W) or (H, W, C), got shape {list(arr.shape)}")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        scale = arr.dtype == np.uint8
        t = dlcore.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1).contiguous()
        return t / 255.0 if scale else t

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(img - mean[c]) / std[c] per channel."""

    def __init__(self, mean, std):
        self.mean = [float(m) for m in (mean if isinstance(mean, (list, tuple)) else [mean])]
        self.std = [float(s) for s in (std if isinstance(std, (list, tuple)) else [std])]
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std evaluated to zero after conversion to float, got std={self.std}")

    def __call__(self, img):
        _check_image(img, "Normalize")
        c = img.shape[-3] if img.dim() >= 3 else 1
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values but the image has {c} channels "
                                 f"(shape {list(img.shape)})")
        shape = [-1, 1, 1] if img.dim() >= 3 else [1, 1]
        mean = dlcore.tensor(self.mean, dtype=img.dtype).reshape(shape)
        std = dlcore.tensor(self.std, dtype=img.dtype).reshape(shape)
        return (img - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomHorizontalFlip:
    """Flip the last (width) dimension with probability p."""

    def __init__(self, p=0.5):
        self.p = float(p)

    def __call__(self, img):
        _check_image(img, "RandomHorizontalFlip")
        if dlcore.rand(1).item() < self.p:
            return dlcore.flip(img, [-1])
        return img

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop:
    """Zero-pad by ``padding`` (int, (lr, tb) or (l, t, r, b)), then crop a random (h, w) window."""

    def __init__(self, size, padding=None, fill=0.0):
        self.size = _pair(size, "RandomCrop")
        if padding is None:
            padding = 0
        if isinstance(padding, numbers.Number):
            padding = (padding,) * 4
        elif len(padding) == 2:
            padding = (padding[0], padding[1], padding[0], padding[1])
        elif len(padding) != 4:
            raise ValueError(f"RandomCrop: padding must be an int or have 2 or 4 values, got {padding!r}")
        self.padding = tuple(int(p) for p in padding)  # (left, top, right, bottom)
        self.fill = float(fill)

    def __call__(self, img):
        _check_image(img, "RandomCrop")
        left, top, right, bottom = self.padding
        if any(self.padding):
            img = dlcore.pad(img, (left, right, top, bottom), value=self.fill)
        H, W = img.shape[-2], img.shape[-1]
        h, w = self.size
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the padded image {(H, W)} "
                             f"(shape {list(img.shape)})")
        i = _randint(0, H - h)
        j = _randint(0, W - w)
        return img[..., i:i + h, j:j + w]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


def _shift(img, dy, dx, fill):
    """Translate the image content by (dy, dx) whole pixels, filling with ``fill``."""
    H, W = img.shape[-2], img.shape[-1]
    dy, dx = max(-H, min(H, dy)), max(-W, min(W, dx))
    padded = dlcore.pad(img, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), value=fill)
    y0, x0 = max(-dy, 0), max(-dx, 0)
    return padded[..., y0:y0 + H, x0:x0 + W]


class RandomAffine:
    """Random translation by whole pixels: dx uniform in [-translate[0]*W, translate[0]*W]
    (rounded), dy likewise with translate[1]*H. Only ``degrees=0`` (no rotation) is supported."""

    def __init__(self, degrees=0, translate=None, fill=0.0):
        d = degrees if isinstance(degrees, (list, tuple)) else (-degrees, degrees)
        if any(float(x) != 0 for x in d):
            raise NotImplementedError("RandomAffine: rotation is not supported; use degrees=0")
        if translate is not None:
            if len(translate) != 2 or not all(0.0 <= float(t) <= 1.0 for t in translate):
                raise ValueError(f"RandomAffine: translate should be a pair of values in [0, 1], got {translate!r}")
            translate = (float(translate[0]), float(translate[1]))
        self.degrees = degrees
        self.translate = translate
        self.fill = float(fill)

    def __call__(self, img):
        _check_image(img, "RandomAffine")
        if self.translate is None:
            return img
        H, W = img.shape[-2], img.shape[-1]
        max_dx, max_dy = self.translate[0] * W, self.translate[1] * H
        dx = int(round(_uniform(-max_dx, max_dx)))
        dy = int(round(_uniform(-max_dy, max_dy)))
        return _shift(img, dy, dx, self.fill)

    def __repr__(self):
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate})"


def _grayscale(img):
    """(3, H, W) -> (1, H, W) luma with ITU-R 601 weights, as torchvision."""
    return 0.299 * img[..., 0:1, :, :] + 0.587 * img[..., 1:2, :, :] + 0.114 * img[..., 2:3, :, :]


def _blend(img, other, factor):
    return dlcore.clamp(factor * img + (1.0 - factor) * other, 0.0, 1.0)


class ColorJitter:
    """Random brightness, contrast and saturation for float images in [0, 1], as torchvision:
    each factor is uniform in [max(0, 1 - v), 1 + v] and the three are applied in random order.
    brightness: img * f; contrast: blend with the mean gray level; saturation: blend with the
    grayscale image (3-channel images only)."""

    def __init__(self, brightness=0, contrast=0, saturation=0):
        self.brightness = self._range(brightness, "brightness")
        self.contrast = self._range(contrast, "contrast")
        self.saturation = self._range(saturation, "saturation")

    @staticmethod
    def _range(v, name):
        if isinstance(v, numbers.Number):
            if v < 0:
                raise ValueError(f"ColorJitter: {name} should be non-negative, got {v}")
            return None if v == 0 else (max(0.0, 1.0 - float(v)), 1.0 + float(v))
        if len(v) != 2 or not 0 <= v[0] <= v[1]:
            raise ValueError(f"ColorJitter: {name} should be a number or a pair (min, max), got {v!r}")
        return (float(v[0]), float(v[1]))

    def __call__(self, img):
        _check_image(img, "ColorJitter")
        c = img.shape[-3] if img.dim() >= 3 else 1
        if self.saturation is not None and c != 3:
            raise ValueError(f"ColorJitter: saturation needs 3 channels, got shape {list(img.shape)}")
        for k in dlcore.randperm(3).tolist():
            if k == 0 and self.brightness is not None:
                img = dlcore.clamp(img * _uniform(*self.brightness), 0.0, 1.0)
            elif k == 1 and self.contrast is not None:
                factor = _uniform(*self.contrast)
                gray = _grayscale(img) if c == 3 else img
                img = _blend(img, gray.mean(dim=(-3, -2, -1), keepdim=True) if img.dim() >= 3 else gray.mean(),
                             factor)
            elif k == 2 and self.saturation is not None:
                img = _blend(img, _grayscale(img), _uniform(*self.saturation))
        return img

    def __repr__(self):
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"
