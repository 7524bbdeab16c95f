"""Start the face_gen Space with tiny StyleGAN2s under the real checkpoint names (for the e2e tests).

Run as the server's command in the built Space folder, by absolute path:
``[sys.executable, str(ROOT / "tests/e2e/tiny_face_gen.py")]``. It registers tiny variants of
both models' checkpoints (``TINY``) in the Space's own registry for the life of the process,
then runs the Space's ``app.py`` as ``__main__``. The checkpoints themselves are written by the
test under the published file names in ``GAN_GALLERY_WEIGHTS_DIR``.

Registrations live in this process only: start the server with ``GAN_GALLERY_WORKERS=0`` so the
heavy work runs here, not in worker processes that would see the real (full-size) specs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import runpy
import sys
from pathlib import Path

# A 32x32 generator with 8 channels per level and 16-d latents: milliseconds per call.
TINY = dict(size=32, style_dim=16, n_mlp=2, narrow=1 / 64)


def main() -> None:
    space = Path.cwd().resolve()
    # The Space's own copy of the code: its folder first (Python put this file's folder there).
    sys.path.insert(0, str(space))

    from core.runtime import configure_process

    configure_process()  # before paddle, as the Space's app.py does

    import core
    from core import weights
    from core.apps import face_gen
    from core.registry import WEIGHTS

    if not Path(core.__file__).resolve().is_relative_to(space):
        raise RuntimeError(f"core was imported from {core.__file__}, not from the Space in {space}")
    with contextlib.ExitStack() as stack:
        for choice in (face_gen.MODELS[key] for key in face_gen.STYLEGAN_MODELS):  # the DCGAN stays the real one
            real = weights.spec(choice.weights)
            tiny = dataclasses.replace(real, net_overrides=dict(TINY))
            stack.enter_context(WEIGHTS.scoped(real.name, tiny, real.aliases))
        sys.argv = [str(space / "app.py")]
        runpy.run_path("app.py", run_name="__main__")


if __name__ == "__main__":
    main()
