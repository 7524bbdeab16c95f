"""Example inputs that ship in packages, copied once into assets/examples with their credits.

    python -m core.examples     # (re)writes assets/examples/*.jpg and CREDITS.md

Every photo is public domain or CC0 and comes from a wheel, never from a download.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.paths import REPO_ROOT
EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"


@dataclass(frozen=True)
class ExamplePhoto:
    name: str
    source: str
    credit: str
    of: str = ""  # a crop of this photo (a small input keeps the slow networks' examples quick)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, height, width

    @property
    def path(self) -> str:
        """Path relative to the repository root (what gr.Examples and Spaces use)."""
        return f"assets/examples/{self.name}.jpg"


PHOTOS = {
    p.name: p
    for p in (
        ExamplePhoto("astronaut", "scikit-image skimage.data.astronaut()", "Eileen Collins, NASA; public domain"),
        ExamplePhoto("coffee", "scikit-image skimage.data.coffee()", "Rachel Michetti; CC0"),
        ExamplePhoto("chelsea", "scikit-image skimage.data.chelsea()", "Stéfan van der Walt; CC0"),
        ExamplePhoto("rocket", "scikit-image skimage.data.rocket()", "SpaceX; CC0 (public domain)"),
        ExamplePhoto("grace_hopper", "matplotlib mpl-data/sample_data/grace_hopper.jpg", "U.S. Navy photograph of Grace Hopper; public domain"),
        ExamplePhoto(
            "astronaut_face", "a 160 x 160 crop of scikit-image skimage.data.astronaut()", "Eileen Collins, NASA; public domain",
            of="astronaut", crop=(20, 160, 160, 160),
        ),
    )
}


def example_path(name: str) -> str:
    return PHOTOS[name].path


def _load(name: str):
    import numpy as np

    if name == "grace_hopper":
        import matplotlib
        from PIL import Image

        with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg") as image:
            return np.asarray(image.convert("RGB"))
    from skimage import data

    return getattr(data, name)()


def export_all() -> None:
    from PIL import Image

    EXAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    lines = ["# Example photos", "", "Copied from Python packages by `python -m core.examples`.", ""]
    for photo in PHOTOS.values():
        pixels = _load(photo.of or photo.name)
        if photo.of:
            top, left, height, width = photo.crop
            pixels = pixels[top : top + height, left : left + width]
        Image.fromarray(pixels).convert("RGB").save(REPO_ROOT / photo.path, quality=92)
        lines.append(f"- `{photo.name}.jpg`: {photo.credit} (from {photo.source})")
    lines.append("- `facade_labels.png`: a facade label map drawn by us (`python -m core.apps.translate facade-example`); CC0")
    (EXAMPLES_DIR / "CREDITS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    export_all()
    print(f"wrote {len(PHOTOS)} photos to {EXAMPLES_DIR}")
