"""AttGAN's and STGAN's generators, weight-compatible with PaddlePaddle/models' ``PaddleCV/gan``.

Both edit face attributes with an encoder-decoder: a stack of 4x4 stride-2 convolutions encodes the
picture, the condition vector is tiled and stacked onto the innermost features, and 4x4 stride-2
transposed convolutions decode, taking encoder features through shortcuts and the condition again on
the way up. AttGAN's condition is the target attributes; STGAN's is the *difference* target - source,
and STGAN passes each shortcut through a selective transfer unit (STU, a convolutional GRU cell)
that the condition steers before the decoder gets it.

Read from PaddlePaddle/models, ``PaddleCV/gan`` (its last state, the parent of commit 1a3c1f754):

- ``network/AttGAN_network.py``, ``AttGAN_model.network_G`` / ``Genc`` / ``Gdec``: ``n_layers`` = 5
  encoder layers of ``min(64 * 2**i, MAX_DIM = 1024)`` channels (64 ... 1024), each a 4x4 stride-2 conv
  without bias, batch norm and leaky ReLU of slope 0.01. The decoder's first four layers (1024, 512,
  256, 128 channels) are 4x4 stride-2 transposed convs without bias, batch norm and ReLU; the last one
  gives 3 channels with a bias and tanh. The decoder starts from [innermost features, tiled
  condition]; ``Gdec`` defaults to ``shortcut_layers`` = 1 and ``inject_layers`` = 1 (the network
  never passes others): after decoder layer 0 come the encoder's layer-3 features, then the tiled
  condition again.
- ``network/STGAN_network.py``, ``STGAN_model``: the same encoder with leaky slope 0.2, ``Gdec`` with
  ``shortcut_layers`` = 4 and ``inject_layers`` = 4 (after every decoder layer but the last: the STU's
  output, then the condition), and ``GRU`` / ``gru_cell`` between them (``--use_gru True`` in
  ``scripts/infer_stgan.sh``, ``--gru_n_layers`` 4, kernel 3, no norm, ``pass_state='lstate'``). STU
  step i (0 = deepest) gets encoder features ``zs[3 - i]`` and a state (at first the innermost
  features plus the condition): the state goes through a 4x4 stride-2 transposed conv with bias to
  ``min(64 * 2**(3 - i), 1024)`` channels (``_deconv2d``); ``_reset_gate`` and ``_update_gate`` are 3x3
  convs with bias and a sigmoid on [features, upsampled state]; ``_info`` is a 3x3 conv with bias and
  tanh on [features, reset * upsampled state]; the output (1 - update) * upsampled state + update * info
  replaces the shortcut, and [reset * upsampled state, condition] is the next step's state.
- Both networks are built with ``name="generator"`` (``infer.py``, ``trainer/AttGAN.py``,
  ``trainer/STGAN.py``); ``base_network.conv2d`` / ``deconv2d`` name the weight ``<layer>_w`` and the
  bias ``<layer>_b``, and ``norm_layer`` (called with ``<layer>_norm``) names batch norm's scale ``_w``,
  offset ``_b``, moving mean ``_mean`` and moving variance ``_var``. Layers: ``generator_Genc{i}``,
  ``generator_Gdec{i}``, ``generator_GRU{i}_deconv2d`` / ``_reset_gate`` / ``_update_gate`` / ``_info``.
  ``paddlecv_name_table`` maps them; ``tests/paddlecv_layouts/attgan_G.json`` and ``stgan_G.json``
  list the variables. Transposed-conv weights are ``[in, out, k, k]`` in fluid and in paddle.nn alike.
- "SAME" padding (``base_network.cal_padding``) is one pixel on every side for the 4x4 stride-2 and the
  3x3 layers whenever the side is even, as it is at every level of a 128x128 picture. Inference runs
  batch norm on its moving statistics (``infer.py`` builds the generators with ``is_test=True``),
  epsilon 1e-5.
- Conditions (``trainer/AttGAN.py`` and ``trainer/STGAN.py``: ``label_ = (label * 2 - 1) * thres_int``,
  ``--thres_int`` 0.5): 0/1 labels become -0.5 / +0.5. ``infer.py`` makes each edit's target by
  ``flip_attribute`` (one attribute flipped, conflicts cleared); for AttGAN it then doubles the edited
  attribute (+-1.0: the test intensity ``test_int`` = 1.0, AttGAN's ``test_int`` / ``thres_int``
  scaling), for STGAN it does not, so STGAN's difference is +-1 where an attribute changes and 0 elsewhere.
  ``core.nets.celeba_labels.attribute_condition`` and ``stgan_difference`` compute these.
- The published models (README, ``https://paddle-gan-models.bj.bcebos.com/attgan_G.tar.gz`` and
  ``stgan_G.tar.gz``): CelebA at 128x128 (crop 170 for training, ``infer.py``'s default crop 178,
  bilinear resize, [-1, 1]) with the 13 ``CELEBA_ATTRIBUTES`` (``--selected_attrs`` of ``infer.py`` and
  both trainers; ``c_dim`` 13).

STGAN's history: ``stgan_G.tar.gz`` is in the README since 28 June 2019 (release v1.5, 1 July). Up to
v1.5 the STU's output was *added* to the encoder features (``zs_.insert(0, output[0] + zs[...])``), the
encoder's leaky slope was 0.01, and both ``trainer/STGAN.py`` and ``infer.py`` took the difference
between the scaled target (``infer.py`` doubling the edited attribute) and the raw 0/1 source labels.
Commit fd84c4978 ("add instance norm", 16 July; v1.5.1 onwards) dropped the sum, made the slope 0.2,
scaled both sides and raised ``scripts/run_stgan.sh``'s epochs from 20 to 50. The URL never changed and
the variables have the same names and shapes either way, so the file alone cannot tell which code it
was trained with. The configuration follows the library's final code; ``stu_residual=True,
encoder_slope=0.01`` is v1.5's network (whose condition was ``attribute_condition(target, edited=[i])
- source``).
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.checkpoints.attgan import ATTGAN_CELEBA_128, STGAN_CELEBA_128
from core.registry import architecture

MAX_DIM = 64 * 16  # AttGAN_network.MAX_DIM / STGAN_network.MAX_DIM: no layer is wider


def _tile(condition, like):
    """[N, c] -> [N, c, H, W] at the size of `like`."""
    return condition.reshape([condition.shape[0], condition.shape[1], 1, 1]).expand(
        [-1, -1, like.shape[2], like.shape[3]])


class _EncoderLayer(nn.Layer):
    """4x4 stride-2 conv (no bias, one pixel of padding) -> batch norm -> leaky ReLU."""

    def __init__(self, cin: int, cout: int, slope: float):
        super().__init__()
        self.conv = nn.Conv2D(cin, cout, 4, stride=2, padding=1, bias_attr=False)
        self.norm = nn.BatchNorm2D(cout, momentum=0.9, epsilon=1e-5)
        self.slope = slope

    def forward(self, x):
        return F.leaky_relu(self.norm(self.conv(x)), self.slope)


class _DecoderLayer(nn.Layer):
    """4x4 stride-2 transposed conv -> batch norm -> ReLU; the last layer: with bias -> tanh."""

    def __init__(self, cin: int, cout: int, last: bool):
        super().__init__()
        self.last = last
        self.conv = nn.Conv2DTranspose(cin, cout, 4, stride=2, padding=1, bias_attr=None if last else False)
        if not last:
            self.norm = nn.BatchNorm2D(cout, momentum=0.9, epsilon=1e-5)

    def forward(self, x):
        x = self.conv(x)
        return paddle.tanh(x) if self.last else F.relu(self.norm(x))


class SelectiveTransferUnit(nn.Layer):
    """STGAN's STU (``STGAN_model.gru_cell``): a convolutional GRU cell whose state comes from the level below.

    (features [N, out, 2h, 2w], state [N, state_channels, h, w]) -> (output, next state), both [N, out, 2h, 2w]:
    the state is upsampled by a transposed conv; reset and update gates (sigmoid) and the new
    information (tanh) are ``kernel`` x ``kernel`` convs; output = (1 - update) * upsampled + update * info;
    next state = reset * upsampled (``pass_state='lstate'``).
    """

    def __init__(self, channels: int, state_channels: int, kernel: int = 3):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"the STU kernel must be odd (symmetric 'SAME' padding); got {kernel}")
        self.upsample = nn.Conv2DTranspose(state_channels, channels, 4, stride=2, padding=1)
        self.reset_gate = nn.Conv2D(2 * channels, channels, kernel, padding=kernel // 2)
        self.update_gate = nn.Conv2D(2 * channels, channels, kernel, padding=kernel // 2)
        self.info = nn.Conv2D(2 * channels, channels, kernel, padding=kernel // 2)

    def forward(self, features, state):
        state = self.upsample(state)
        both = paddle.concat([features, state], axis=1)
        reset = F.sigmoid(self.reset_gate(both))
        update = F.sigmoid(self.update_gate(both))
        kept = reset * state
        info = paddle.tanh(self.info(paddle.concat([features, kept], axis=1)))
        return (1 - update) * state + update * info, kept


class _AttributeEncoderDecoder(nn.Layer):
    """The encoder, the decoder and (STGAN) the STUs; forward(picture, condition) in the subclasses."""

    def __init__(self, c_dim: int, dim: int, n_layers: int, shortcut_layers: int, inject_layers: int,
                 encoder_slope: float, max_dim: int, stu_layers: int = 0, stu_inject_layers: int = 0,
                 stu_kernel: int = 3, stu_residual: bool = False):
        super().__init__()
        if c_dim < 1 or dim < 1 or n_layers < 2:
            raise ValueError(f"c_dim and dim must be positive and n_layers at least 2; got {c_dim}, {dim}, {n_layers}")
        if stu_layers not in (0, n_layers - 1):
            # The library indexes the encoder's features by the STU's own depth: only n_layers - 1 lines up.
            raise ValueError(f"stu_layers must be 0 or n_layers - 1 = {n_layers - 1}; got {stu_layers}")
        self.c_dim, self.n_layers = c_dim, n_layers
        self.shortcut_layers = min(shortcut_layers, n_layers - 1)
        self.inject_layers = min(inject_layers, n_layers - 1)
        self.stu_inject_layers = stu_inject_layers
        self.stu_residual = stu_residual

        widths = [min(dim * 2**i, max_dim) for i in range(n_layers)]  # encoder layer i
        self.encoder = nn.LayerList(
            [_EncoderLayer(3 if i == 0 else widths[i - 1], widths[i], encoder_slope) for i in range(n_layers)])

        units, state = [], widths[-1] + c_dim
        for i in range(stu_layers):
            out = min(dim * 2**(stu_layers - 1 - i), max_dim)
            units.append(SelectiveTransferUnit(out, state, stu_kernel))
            state = out + (c_dim if stu_inject_layers > i else 0)
        self.stu = nn.LayerList(units)

        decoder, cin = [], widths[-1] + c_dim
        for i in range(n_layers):
            if i == n_layers - 1:
                decoder.append(_DecoderLayer(cin, 3, last=True))
                continue
            out = min(dim * 2**(n_layers - 1 - i), max_dim)
            decoder.append(_DecoderLayer(cin, out, last=False))
            cin = out + (widths[n_layers - 2 - i] if self.shortcut_layers > i else 0) + (c_dim if self.inject_layers > i else 0)
        self.decoder = nn.LayerList(decoder)

    def _check(self, image, condition) -> None:
        if not paddle.in_dynamic_mode():
            return  # traced for export: the batch is symbolic; the input spec fixes the rest
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"the picture must be [N, 3, H, W]; got {list(image.shape)}")
        step = 2**self.n_layers
        if image.shape[2] % step or image.shape[3] % step:
            raise ValueError(f"the picture's sides must be multiples of {step}; got {image.shape[2]}x{image.shape[3]}")
        if condition.ndim != 2 or condition.shape[1] != self.c_dim or condition.shape[0] != image.shape[0]:
            raise ValueError(f"the condition must be [N, {self.c_dim}] for N = {image.shape[0]}; got {list(condition.shape)}")

    def encode(self, image) -> list:
        """The encoder's features, outermost first (the library's ``zs``)."""
        features = []
        x = image
        for layer in self.encoder:
            x = layer(x)
            features.append(x)
        return features

    def transfer(self, features: list, condition) -> list:
        """The STUs applied to the shortcuts (the library's ``GRU``); the features as they are without STUs."""
        if not len(self.stu):
            return features
        transferred = list(features)
        depth = len(self.stu)
        state = paddle.concat([features[-1], _tile(condition, features[-1])], axis=1)
        for i, unit in enumerate(self.stu):
            level = depth - 1 - i
            output, state = unit(features[level], state)
            transferred[level] = output + features[level] if self.stu_residual else output
            if self.stu_inject_layers > i:
                state = paddle.concat([state, _tile(condition, state)], axis=1)
        return transferred

    def decode(self, features: list, condition):
        z = paddle.concat([features[-1], _tile(condition, features[-1])], axis=1)
        n = self.n_layers
        for i, layer in enumerate(self.decoder):
            z = layer(z)
            if i == n - 1:
                break
            if self.shortcut_layers > i:
                z = paddle.concat([z, features[n - 2 - i]], axis=1)
            if self.inject_layers > i:
                z = paddle.concat([z, _tile(condition, z)], axis=1)
        return z

    def _generate(self, image, condition):
        condition = condition.astype(image.dtype)
        self._check(image, condition)
        return self.decode(self.transfer(self.encode(image), condition), condition)


class AttGANGenerator(_AttributeEncoderDecoder):
    """(picture [N, 3, H, W] in [-1, 1], target condition [N, c_dim]) -> edited picture in [-1, 1].

    The condition is ``attribute_condition(target labels, edited=..., test_int=...)``; H and W must be
    multiples of 2**n_layers (32 for the published model).
    """

    def __init__(self, c_dim: int = 13, dim: int = 64, n_layers: int = 5, shortcut_layers: int = 1,
                 inject_layers: int = 1, encoder_slope: float = 0.01, max_dim: int = MAX_DIM):
        super().__init__(c_dim, dim, n_layers, shortcut_layers, inject_layers, encoder_slope, max_dim)

    def forward(self, image, target):
        return self._generate(image, target)


class STGANGenerator(_AttributeEncoderDecoder):
    """(picture [N, 3, H, W] in [-1, 1], source condition, target condition [N, c_dim]) -> edited picture.

    Only target - source reaches the network (``forward_difference`` takes it directly); the conditions
    are ``attribute_condition`` of the labels, or use ``stgan_difference``. Same target as source: the
    picture reconstructed.
    """

    def __init__(self, c_dim: int = 13, dim: int = 64, n_layers: int = 5, shortcut_layers: int = 4,
                 inject_layers: int = 4, encoder_slope: float = 0.2, max_dim: int = MAX_DIM,
                 stu_layers: int | None = None, stu_inject_layers: int = 4, stu_kernel: int = 3,
                 stu_residual: bool = False):
        super().__init__(c_dim, dim, n_layers, shortcut_layers, inject_layers, encoder_slope, max_dim,
                         stu_layers=n_layers - 1 if stu_layers is None else stu_layers,
                         stu_inject_layers=stu_inject_layers, stu_kernel=stu_kernel, stu_residual=stu_residual)

    def forward(self, image, source, target):
        return self._generate(image, target.astype(image.dtype) - source.astype(image.dtype))

    def forward_difference(self, image, difference):
        return self._generate(image, difference)


def paddlecv_name_table(c_dim: int = 13, dim: int = 64, n_layers: int = 5, shortcut_layers: int = 1, inject_layers: int = 1,
                        encoder_slope: float = 0.01, max_dim: int = MAX_DIM, stu_layers: int | None = 0,
                        stu_inject_layers: int = 4, stu_kernel: int = 3, stu_residual: bool = False) -> dict[str, str]:
    """{PaddleCV/gan variable name: our state-dict name} for AttGAN's (stu_layers 0) or STGAN's generator.

    From ``base_network.py``: a conv's weight ``<layer>_w``, its bias ``<layer>_b``, its batch norm
    ``<layer>_norm_w`` / ``_norm_b`` / ``_norm_mean`` / ``_norm_var``; layers ``generator_Genc{i}``,
    ``generator_Gdec{i}`` (only the last has a bias and no norm) and ``generator_GRU{i}_<part>``.
    Takes a configuration's constructor arguments: stu_layers 0 is AttGAN, None (the ``stgan`` factory's
    default) or n_layers - 1 is STGAN; the others change shapes or the computation, not names.
    """
    del c_dim, dim, shortcut_layers, inject_layers, encoder_slope, max_dim, stu_inject_layers, stu_kernel, stu_residual
    if stu_layers is None:
        stu_layers = n_layers - 1
    table: dict[str, str] = {}

    def batch_norm(library: str, ours: str) -> None:
        for suffix, name in (("w", "weight"), ("b", "bias"), ("mean", "_mean"), ("var", "_variance")):
            table[f"{library}_norm_{suffix}"] = f"{ours}.norm.{name}"

    for i in range(n_layers):
        table[f"generator_Genc{i}_w"] = f"encoder.{i}.conv.weight"
        batch_norm(f"generator_Genc{i}", f"encoder.{i}")
    for i in range(stu_layers):
        for part, ours in (("deconv2d", "upsample"), ("reset_gate", "reset_gate"), ("update_gate", "update_gate"), ("info", "info")):
            table[f"generator_GRU{i}_{part}_w"] = f"stu.{i}.{ours}.weight"
            table[f"generator_GRU{i}_{part}_b"] = f"stu.{i}.{ours}.bias"
    for i in range(n_layers):
        table[f"generator_Gdec{i}_w"] = f"decoder.{i}.conv.weight"
        if i == n_layers - 1:
            table[f"generator_Gdec{i}_b"] = f"decoder.{i}.conv.bias"
        else:
            batch_norm(f"generator_Gdec{i}", f"decoder.{i}")
    return table


@architecture(
    "attgan", "AttGAN generator: encoder-decoder editing face attributes by a target attribute vector (PaddleCV/gan layout)",
    default_weights="attgan.celeba",
    configurations={"attgan_celeba_128": (ATTGAN_CELEBA_128, "attgan.celeba")},
)
def attgan(c_dim=13, dim=64, n_layers=5, shortcut_layers=1, inject_layers=1, encoder_slope=0.01, max_dim=MAX_DIM):
    return AttGANGenerator(c_dim=c_dim, dim=dim, n_layers=n_layers, shortcut_layers=shortcut_layers,
                           inject_layers=inject_layers, encoder_slope=encoder_slope, max_dim=max_dim)


@architecture(
    "stgan", "STGAN generator: AttGAN's encoder-decoder with selective transfer units, steered by the attribute difference (PaddleCV/gan layout)",
    default_weights="stgan.celeba",
    configurations={"stgan_celeba_128": (STGAN_CELEBA_128, "stgan.celeba")},
)
def stgan(c_dim=13, dim=64, n_layers=5, shortcut_layers=4, inject_layers=4, encoder_slope=0.2, max_dim=MAX_DIM,
          stu_layers=None, stu_inject_layers=4, stu_kernel=3, stu_residual=False):
    return STGANGenerator(c_dim=c_dim, dim=dim, n_layers=n_layers, shortcut_layers=shortcut_layers,
                          inject_layers=inject_layers, encoder_slope=encoder_slope, max_dim=max_dim,
                          stu_layers=stu_layers, stu_inject_layers=stu_inject_layers, stu_kernel=stu_kernel,
                          stu_residual=stu_residual)
