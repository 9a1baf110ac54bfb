"""Image preprocessing of CLIP: RGB, bicubic resize, mean/std normalisation (the constants are in
:mod:`baseline.config` and every saved model's config). Chinese-CLIP resizes to a square (no crop);
OpenAI CLIP's processor resizes the shorter side and crops the centre square (``crop=True``, what a
``CLIPModel`` folder's ``preprocessor_config.json`` asks for with ``do_center_crop``).

Images of any size are decoded once into a uint8 bank (``N×3×S×S``) so training epochs and
evaluation never touch the disk again; normalisation happens on the device, per batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emmel.errors import EmmelError


def load_image(path: str | Path, size: int, *, what: str = "image", crop: bool = False) -> torch.Tensor:
    """``3×size×size`` uint8 tensor of one image file, opened as the build opens it
    (``emmel.images.open_image``: limits, EXIF orientation, any mode as RGB); a bad file is an EmmelError.
    ``crop``: shorter side to ``size``, then the centre square (CLIP), instead of a resize to the square."""
    from PIL import Image

    from emmel.images import ImageProblem, open_image

    path = Path(path)
    try:
        image = open_image(path)
    except ImageProblem as exc:
        message = f"{what} not found" if exc.reason == "missing_image" and exc.detail == "not found" else f"{what} cannot be used: {exc}"
        raise EmmelError(message, path=path) from None
    if crop:
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        left, top = (width - size) // 2, (height - size) // 2
        image = image.resize((width, height), Image.Resampling.BICUBIC).crop((left, top, left + size, top + size))
    array = np.asarray(image.resize((size, size), Image.Resampling.BICUBIC) if not crop else image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def image_bank(paths: list[Path], size: int, *, labels: list[str] | None = None, workers: int = 4, progress: bool = True,
               crop: bool = False) -> torch.Tensor:
    """All images as one uint8 tensor, decoded in threads (PIL releases the GIL while decoding)."""
    from tqdm.auto import tqdm

    bank = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    labels = labels or [f"image {i}" for i in range(len(paths))]

    def one(i: int) -> None:
        bank[i] = load_image(paths[i], size, what=labels[i], crop=crop)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(tqdm(pool.map(one, range(len(paths))), total=len(paths), desc="images", disable=not progress, leave=False))
    return bank


class Normaliser:
    """uint8 ``B×3×S×S`` → float, CLIP-normalised; mean/std live on the device (no per-batch copies)."""

    def __init__(self, mean: list[float], std: list[float], device: torch.device | str = "cpu"):
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255.0)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return (batch.float() - self.mean) * self.inv_std


@dataclass
class ImageSource:
    """Decoded images (uint8 ``N×3×S×S``, on the host or the device) and the bank row of each sample."""

    bank: torch.Tensor
    rows: torch.Tensor  # sample i → its row in ``bank``
    normaliser: Normaliser

    def __len__(self) -> int:
        return len(self.rows)

    def pixels(self, samples: torch.Tensor, rt) -> torch.Tensor:
        """Normalised float pixels of samples ``samples`` (host indices), on the runtime's device."""
        index = self.rows[samples]
        batch = self.bank[rt.put(index)] if self.bank.device.type == rt.device.type else rt.put(self.bank[index])
        return self.normaliser(batch)
