"""StarGAN's generator (Choi et al. 2018), weight-compatible with PaddlePaddle/models' ``PaddleCV/gan``.

One generator edits several face attributes: the target attribute vector, tiled to the picture's
size, is stacked after the three colour channels, and an encoder / residual / decoder network gives
the edited picture. Read from PaddlePaddle/models, ``PaddleCV/gan`` (its last state, the parent of
commit 1a3c1f754 that removed the folder; the generator computes the same since StarGAN was added in
June 2019, when ``stargan_G.tar.gz`` was first listed in the README: only its instance norm, then
written out by hand, became ``fluid.layers.instance_norm``, with the same parameters and epsilon):

- ``network/StarGAN_network.py``, ``StarGAN_model.network_G``: concat [image, tiled target]; 7x7 conv
  (``g_base_dims`` = 64 channels), instance norm, ReLU; two 4x4 stride-2 convs (128, 256), IN, ReLU;
  six residual blocks at 256 channels (3x3 conv, IN, ReLU, 3x3 conv, IN, plus the input; ``repeat_num``
  is fixed at 6 there: ``trainer/StarGAN.py``'s ``--g_repeat_num`` is never read); two 4x4 stride-2
  transposed convs (128, 64), IN, ReLU; a 7x7 conv to 3 channels and tanh. Every padding is explicit
  and symmetric (3, 1, 1, 1), no convolution has a bias, the instance norms are affine (scale and
  offset parameters) with epsilon 1e-5 and no running statistics.
- Names (``network/base_network.py``: ``conv2d`` / ``deconv2d`` pass ``name + "_w"`` as the weight's
  ParamAttr, ``norm_layer`` is called with ``name + "_norm"`` and names instance norm's parameters
  ``_scale`` and ``_offset``): the generator is built with ``name="g_main"`` (``infer.py`` and
  ``trainer/StarGAN.py``'s ``GTrainer``), its layers are ``g_main0`` (stem), ``g_main3`` and
  ``g_main6`` (downsampling), ``g_main.9`` ... ``g_main.14`` (blocks, each ``.main0`` and ``.main3``),
  ``g_main15`` and ``g_main18`` (upsampling) and ``g_main21`` (head). ``paddlecv_name_table`` maps them
  onto our names; ``tests/paddlecv_layouts/stargan_G.json`` lists the variables.
- Transposed-conv weights are ``[in, out, k, k]`` both in fluid's ``conv2d_transpose`` and in
  ``paddle.nn.Conv2DTranspose``: they load as they are.
- Labels: 0 or 1 per attribute (``data_reader.celeba_reader_creator``: the CelebA list's "1" is 1,
  "-1" is 0), no rescaling. ``infer.py`` builds each target from the source labels by flipping one
  attribute (``1 - x``) and then resolving conflicts (``util/utility.check_attribute_conflict``); see
  ``core.nets.celeba_labels.flip_attribute``.
- The published model (README's "StarGAN的预训练模型", ``https://paddle-gan-models.bj.bcebos.com/
  stargan_G.tar.gz``): CelebA at 128x128, ``c_dim`` 5, attributes ``STARGAN_ATTRIBUTES``
  (``scripts/infer_stargan.sh`` and ``trainer/StarGAN.py``'s ``--selected_attrs``). Pictures are
  centre-cropped (178 for training, ``infer.py``'s default ``crop_size``), resized bilinearly to 128
  and scaled to [-1, 1] (``(x / 255 - 0.5) / 0.5``).

The attribute names and ``flip_attribute`` (``infer.py``'s target labels) are in ``core.nets.celeba_labels``.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn

from core.checkpoints.stargan import STARGAN_CELEBA_128
from core.registry import architecture


class _ConvNormReLU(nn.Layer):
    """conv (or transposed conv), no bias -> instance norm (affine) -> ReLU (or nothing)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, transposed: bool = False,
                 relu: bool = True):
        super().__init__()
        conv = nn.Conv2DTranspose if transposed else nn.Conv2D
        self.conv = conv(cin, cout, kernel, stride=stride, padding=padding, bias_attr=False)
        self.norm = nn.InstanceNorm2D(cout, epsilon=1e-5)
        self.relu = relu

    def forward(self, x):
        x = self.norm(self.conv(x))
        return nn.functional.relu(x) if self.relu else x


class _ResidualBlock(nn.Layer):
    """x + [3x3 conv, IN, ReLU, 3x3 conv, IN](x) (the library's ``ResidualBlock``: ``.main0``, ``.main3``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2D(channels, channels, 3, padding=1, bias_attr=False)
        self.norm1 = nn.InstanceNorm2D(channels, epsilon=1e-5)
        self.conv2 = nn.Conv2D(channels, channels, 3, padding=1, bias_attr=False)
        self.norm2 = nn.InstanceNorm2D(channels, epsilon=1e-5)

    def forward(self, x):
        y = nn.functional.relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(y))


class StarGANGenerator(nn.Layer):
    """(picture [N, 3, H, W] in [-1, 1], target attributes [N, c_dim] as 0/1) -> edited picture in [-1, 1].

    H and W must be multiples of 4 (two stride-2 steps down, two up).
    """

    def __init__(self, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6):
        super().__init__()
        if c_dim < 1 or conv_dim < 1 or repeat_num < 0:
            raise ValueError(f"c_dim and conv_dim must be positive, repeat_num not negative; got {c_dim}, {conv_dim}, {repeat_num}")
        self.c_dim = c_dim
        self.stem = _ConvNormReLU(3 + c_dim, conv_dim, 7, 1, 3)
        self.down = nn.LayerList([_ConvNormReLU(conv_dim, conv_dim * 2, 4, 2, 1),
                                  _ConvNormReLU(conv_dim * 2, conv_dim * 4, 4, 2, 1)])
        self.blocks = nn.LayerList([_ResidualBlock(conv_dim * 4) for _ in range(repeat_num)])
        self.up = nn.LayerList([_ConvNormReLU(conv_dim * 4, conv_dim * 2, 4, 2, 1, transposed=True),
                                _ConvNormReLU(conv_dim * 2, conv_dim, 4, 2, 1, transposed=True)])
        self.head = nn.Conv2D(conv_dim, 3, 7, padding=3, bias_attr=False)

    def forward(self, image, target):
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"the picture must be [N, 3, H, W]; got {list(image.shape)}")
        if image.shape[2] % 4 or image.shape[3] % 4:
            raise ValueError(f"the picture's sides must be multiples of 4; got {image.shape[2]}x{image.shape[3]}")
        # Traced for export the batch is symbolic (the input spec fixes the rest): compared when running only.
        if paddle.in_dynamic_mode() and (target.ndim != 2 or target.shape[1] != self.c_dim or target.shape[0] != image.shape[0]):
            raise ValueError(f"the target attributes must be [N, {self.c_dim}] for N = {image.shape[0]}; got {list(target.shape)}")
        tiled = target.astype(image.dtype).reshape([-1, self.c_dim, 1, 1]).expand([-1, -1, image.shape[2], image.shape[3]])
        x = self.stem(paddle.concat([image, tiled], axis=1))
        for layer in self.down:
            x = layer(x)
        for block in self.blocks:
            x = block(x)
        for layer in self.up:
            x = layer(x)
        return paddle.tanh(self.head(x))


def paddlecv_name_table(c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6) -> dict[str, str]:
    """{PaddleCV/gan variable name: our state-dict name} for the generator, every variable it has.

    The library's layers are numbered by hand in ``StarGAN_model.network_G`` (``name + str(...)``,
    blocks ``name + '.%d' % (i + 9)``); the weight is ``<layer>_w`` and an instance norm's parameters
    ``<layer>_norm_scale`` / ``<layer>_norm_offset`` (``base_network.conv2d``, ``deconv2d``, ``norm_layer``).
    c_dim and conv_dim change shapes only, not names.
    """
    del c_dim, conv_dim
    table: dict[str, str] = {}

    def conv_norm(library: str, ours: str, norm: str | None) -> None:
        table[f"{library}_w"] = f"{ours}.weight" if norm is None else f"{ours}.conv.weight"
        if norm is not None:
            table[f"{library}_norm_scale"] = f"{ours}.{norm}.scale"
            table[f"{library}_norm_offset"] = f"{ours}.{norm}.bias"

    conv_norm("g_main0", "stem", "norm")
    for i in range(2):
        conv_norm(f"g_main{i * 3 + 3}", f"down.{i}", "norm")
    for i in range(repeat_num):
        block = f"g_main.{i + 9}"
        for part, (conv, norm) in (("main0", ("conv1", "norm1")), ("main3", ("conv2", "norm2"))):
            table[f"{block}.{part}_w"] = f"blocks.{i}.{conv}.weight"
            table[f"{block}.{part}_norm_scale"] = f"blocks.{i}.{norm}.scale"
            table[f"{block}.{part}_norm_offset"] = f"blocks.{i}.{norm}.bias"
    for i in range(2):
        conv_norm(f"g_main{15 + i * 3}", f"up.{i}", "norm")
    conv_norm("g_main21", "head", None)
    return table


@architecture(
    "stargan", "StarGAN generator: one network edits several face attributes (PaddleCV/gan layout)",
    default_weights="stargan.celeba",
    configurations={"stargan_celeba_128": (STARGAN_CELEBA_128, "stargan.celeba")},
)
def stargan(c_dim=5, conv_dim=64, repeat_num=6):
    return StarGANGenerator(c_dim=c_dim, conv_dim=conv_dim, repeat_num=repeat_num)
