"""SPADE generator (Park et al. 2019, "Semantic Image Synthesis with Spatially-Adaptive Normalization").

A semantic label map (one-hot classes, plus an instance-edge channel) becomes an image. The
label map, resized nearest-neighbour to a 1/32 grid (1/64, 1/128 with ``num_upsampling_layers``
"more"/"most"), goes through a 3x3 conv (``fc``); then seven SPADE residual blocks with a 2x
nearest upsampling before all but the second: ``head_0``, ``G_middle_0``, ``G_middle_1`` at 16·ngf
channels, ``up_0``..``up_3`` halving the channels down to ngf; then activation, a 3x3 conv to RGB
and tanh. No encoder and no VAE: both published checkpoints start from the label map.

A SPADE normalisation is a parameter-free batch norm (running statistics at inference) whose
output is scaled by ``1 + gamma`` and shifted by ``beta``, both predicted per pixel from the label
map (resized to the feature size) by a shared 3x3 conv with ``nhidden`` (128) channels and an
activation, then one 3x3 conv each. A block is ``x_s + conv_1(act(spade_1(conv_0(act(spade_0(x))))))``
with ``x_s = conv_s(spade_s(x))``, a learned 1x1 shortcut, where the channel count changes; the
block convs are spectrally normalised.

Two configurations of this one module, chosen by ``flavour``:

* ``spade_cityscapes`` (flavour ``"paddlecv"``): PaddlePaddle/models' ``PaddleCV/gan``
  ``SPADE_model.network_G`` and its published ``spade_G.tar.gz`` (Cityscapes, 512x1024). Block and
  output activations are LeakyReLU(0.2), SPADE's shared conv is followed by ReLU; the batch norm
  keeps its (constant, untrained) affine weight 1 and bias 0 because the checkpoint stores them; the
  spectral norm is the static-graph ``spectral_norm`` op, see below.
* ``photopen_spade`` (flavour ``"photopen"``): PaddleGAN's ``SPADEGenerator``
  (``ppgan/models/generators/generater_photopen.py``, ``configs/photopen.yaml``: 14 input channels,
  256x256, ngf 24). Every activation is GELU, each block's sum goes through SimAM (a parameter-free
  attention: ``x * sigmoid(energy)``), the batch norm has no affine parameters, and the spectral norm
  is ``paddle.nn.utils.spectral_norm``'s hook.

The computation is otherwise the same, and so are the parameter names (PaddleGAN's, so its
``.pdparams`` loads unchanged): ``head_0.spade_0.mlp_shared.0.weight``,
``up_0.act_conv_s.0.weight_orig``... ``paddlecv_name_table`` maps the PaddleCV library's variable
names onto them.

Spectral norm at inference. Both divide ``weight_orig`` (as a [out, in·k·k] matrix W) by
``sigma = u . (W v)`` computed from the stored ``weight_u``/``weight_v``; they differ in which u, v:

* the static-graph op (PaddleCV) copies the stored vectors and runs its ``power_iters`` (1) power
  iteration on every call, training or not, and never writes them back: at inference
  ``v = W^T u / (|W^T u| + eps)``, ``u = W v / (|W v| + eps)``. The stored ``weight_v`` is unused and
  the stored u is its random initial draw (tests/nets/test_spade.py runs the library's calls on Paddle's static
  graph and compares);
* the dygraph hook (PaddleGAN) iterates only in training, writing u and v back; in eval (PaddleGAN's
  predictor calls ``gen.eval()``) sigma uses the stored vectors as they are.

``photopen``'s ``norm_G`` may also say ``syncbatch`` (multi-GPU training): at inference that is
the same batch norm, and the state names are the same.

``semantic_input`` builds the input from an integer label map as both libraries' readers do (one-hot
channels, then the edges of the instance map, or of the label map for PhotoPen). A network built without
a checkpoint should get ``settle_spectral_norms`` before it is used in eval: random stored vectors make
the hook's sigma arbitrary.
"""
from __future__ import annotations

import re

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.nets.spade_labels import CITYSCAPES_LABEL_NC, PHOTOPEN_LABEL_NC
from core.registry import architecture

# Both references hard-code SPADE's hidden width; tests shrink it.
NHIDDEN = 128

# ---------------------------------------------------------------- PaddleCV/gan's Cityscapes SPADE (spade_G.tar.gz)
# PaddlePaddle/models, PaddleCV/gan (PaddleCV/PaddleGAN before 2020-02): network/SPADE_network.py, trainer/SPADE.py,
# infer.py, scripts/run_SPADE.sh and infer_SPADE.sh. The archive was published 2019-10-29 (README, #3795); the
# network's variable names have not changed since 2019-09-26 (#3400). Its URL and archive folder are declared with
# its checkpoint (core.checkpoints.spade).
PADDLECV_PREFIX = "generator"  # GTrainer and infer.py: model.network_G(input, "generator", ...)
CITYSCAPES_INSTANCE_EDGES = True
CITYSCAPES_HEIGHT, CITYSCAPES_WIDTH = 512, 1024
CITYSCAPES_NGF = 64

SPADE_CITYSCAPES = dict(
    semantic_nc=CITYSCAPES_LABEL_NC + int(CITYSCAPES_INSTANCE_EDGES), ngf=CITYSCAPES_NGF, num_upsampling_layers="normal",
    # The latent grid is crop_size/32 wide and round(width/aspect_ratio) high: 32 x 16, so 1024 x 512 out.
    crop_size=CITYSCAPES_WIDTH, aspect_ratio=CITYSCAPES_WIDTH / CITYSCAPES_HEIGHT,
    # What PaddleCV hard-codes, in the SPADE code base's notation: batch norm, 3x3 SPADE convs, spectral norm.
    norm_G="spectralspadebatch3x3", use_vae=False, nef=16, flavour="paddlecv",
)
# ---------------------------------------------------------------- PaddleGAN's PhotoPen SPADE (photopen.pdparams)
# The manifest's config (shared/reference/manifests/photopen_spade.json) and the flavour.
PHOTOPEN_SPADE = dict(
    ngf=24, num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0, norm_G="spectralspadebatch3x3",
    semantic_nc=PHOTOPEN_LABEL_NC + 1, use_vae=False, nef=16, flavour="photopen",
)

FLAVOURS = ("paddlecv", "photopen")
_UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


# ---------------------------------------------------------------- input


def instance_edges(ids):
    """1 where a pixel's id differs from a 4-neighbour's, else 0: [N, 1, H, W] float32 from [N, H, W] or [N, 1, H, W] ids."""
    ids = ids if isinstance(ids, paddle.Tensor) else paddle.to_tensor(ids)
    if ids.ndim == 3:
        ids = ids.unsqueeze(1)
    across = (ids[:, :, :, 1:] != ids[:, :, :, :-1]).astype("float32")
    down = (ids[:, :, 1:, :] != ids[:, :, :-1, :]).astype("float32")
    edges = F.pad(across, [1, 0, 0, 0]) + F.pad(across, [0, 1, 0, 0]) + F.pad(down, [0, 0, 1, 0]) + F.pad(down, [0, 0, 0, 1])
    return (edges > 0).astype("float32")


def semantic_input(labels, label_nc: int, instances=None, edges: bool = True):
    """The generator's input from an [N, H, W] integer label map: ``label_nc`` one-hot channels, then (``edges``)
    the edges of `instances` (PaddleCV: the instance map) or, without one, of the labels (PhotoPen)."""
    labels = (labels if isinstance(labels, paddle.Tensor) else paddle.to_tensor(labels)).astype("int64")
    if int(labels.min()) < 0 or int(labels.max()) >= label_nc:
        raise ValueError(f"labels must be in 0..{label_nc - 1}, got {int(labels.min())}..{int(labels.max())}")
    one_hot = F.one_hot(labels, label_nc).transpose([0, 3, 1, 2])
    if not edges:
        return one_hot
    return paddle.concat([one_hot, instance_edges(labels if instances is None else instances)], axis=1)


# ---------------------------------------------------------------- layers


def simam(x, e_lambda: float = 1e-4):
    """SimAM: each activation weighted by the sigmoid of its energy, its squared distance from the channel's mean
    relative to the channel's variance (no parameters)."""
    spread = (x - x.mean(axis=[2, 3], keepdim=True)) ** 2
    variance = spread.sum(axis=[2, 3], keepdim=True) / (x.shape[2] * x.shape[3] - 1)
    return x * F.sigmoid(spread / (4 * (variance + e_lambda)) + 0.5)


def _activation(flavour: str, where: str) -> nn.Layer:
    if flavour == "photopen":
        return nn.GELU()
    return nn.ReLU() if where == "spade" else nn.LeakyReLU(0.2)


class SpectralNormConv2D(nn.Layer):
    """A stride-1, 'same' padded conv whose weight is ``weight_orig / sigma`` (see the module docstring).

    update: ``"op"`` (static-graph op: one power iteration from the stored u on every call, vectors never
    written) or ``"hook"`` (dygraph hook: in training one iteration written back to the buffers, in eval none).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool, update: str, eps: float = 1e-12):
        super().__init__()
        if update not in ("op", "hook"):
            raise ValueError(f"update must be 'op' or 'hook', got {update!r}")
        self.update, self.eps, self.padding = update, eps, kernel_size // 2
        if bias:
            self.bias = self.create_parameter([out_channels], is_bias=True)
        else:
            self.bias = None
        self.weight_orig = self.create_parameter(
            [out_channels, in_channels, kernel_size, kernel_size], default_initializer=nn.initializer.KaimingUniform()
        )
        self.register_buffer("weight_u", F.normalize(paddle.randn([out_channels]), axis=0))
        self.register_buffer("weight_v", F.normalize(paddle.randn([in_channels * kernel_size * kernel_size]), axis=0))

    def _unit(self, x):
        norm = paddle.sqrt(paddle.sum(x * x))
        return x / (norm + self.eps) if self.update == "op" else x / paddle.clip(norm, min=self.eps)

    def sigma(self):
        """The divisor this call uses (a scalar tensor); in training with the hook it also updates the buffers."""
        matrix = self.weight_orig.reshape([self.weight_orig.shape[0], -1])
        u, v = self.weight_u.reshape([-1, 1]), self.weight_v.reshape([-1, 1])
        if self.update == "op" or self.training:
            with paddle.no_grad():
                fixed = matrix.detach()
                v = self._unit(paddle.matmul(fixed, u, transpose_x=True))
                u = self._unit(paddle.matmul(fixed, v))
                if self.update == "hook":
                    paddle.assign(u.reshape([-1]), self.weight_u)
                    paddle.assign(v.reshape([-1]), self.weight_v)
        return paddle.sum(u * paddle.matmul(matrix, v))

    def forward(self, x):
        return F.conv2d(x, self.weight_orig / self.sigma(), self.bias, padding=self.padding)


def settle_spectral_norms(net: nn.Layer, iterations: int = 10) -> None:
    """Converge every spectral conv's stored u and v on its current weight (power iterations, as training's
    first steps would), so that a network built without a checkpoint has meaningful sigmas in eval: with the
    hook's semantics, sigma = u . (W v) from random vectors can be near zero or negative."""
    with paddle.no_grad():
        for layer in net.sublayers(include_self=True):
            if isinstance(layer, SpectralNormConv2D):
                matrix = layer.weight_orig.reshape([layer.weight_orig.shape[0], -1])
                u = layer.weight_u.reshape([-1, 1])
                for _ in range(iterations):
                    v = F.normalize(paddle.matmul(matrix, u, transpose_x=True), axis=0)
                    u = F.normalize(paddle.matmul(matrix, v), axis=0)
                paddle.assign(u.reshape([-1]), layer.weight_u)
                paddle.assign(v.reshape([-1]), layer.weight_v)


def _param_free_norm(kind: str, channels: int, stored_affine: bool) -> nn.Layer:
    if kind == "instance":  # PaddleGAN's build_norm_layer('instance'): Paddle's default InstanceNorm2D
        return nn.InstanceNorm2D(channels)
    if not stored_affine:
        return nn.BatchNorm2D(channels, weight_attr=False, bias_attr=False)
    # PaddleCV's batch_norm keeps weight 1 and bias 0 (never trained) among its persistables.
    one = paddle.ParamAttr(initializer=nn.initializer.Constant(1.0), trainable=False)
    zero = paddle.ParamAttr(initializer=nn.initializer.Constant(0.0), trainable=False)
    return nn.BatchNorm2D(channels, weight_attr=one, bias_attr=zero)


class NearestResize(nn.Layer):
    """Nearest-neighbour resize of a label map to ``size`` (a member, so that an exported copy can swap it for
    an equal one without an interp op: ``core.export.spade_exportable``)."""

    def forward(self, x, size):
        return F.interpolate(x, size=size, mode="nearest")


class SPADE(nn.Layer):
    """Parameter-free norm of x, then ``* (1 + gamma(seg)) + beta(seg)`` with seg resized (nearest) to x."""

    def __init__(self, norm_nc: int, label_nc: int, norm: str, kernel_size: int, nhidden: int, flavour: str):
        super().__init__()
        self.resize = NearestResize()
        self.param_free_norm = _param_free_norm(norm, norm_nc, stored_affine=flavour == "paddlecv")
        pad = kernel_size // 2
        self.mlp_shared = nn.Sequential(nn.Conv2D(label_nc, nhidden, kernel_size, padding=pad), _activation(flavour, "spade"))
        self.mlp_gamma = nn.Conv2D(nhidden, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2D(nhidden, norm_nc, kernel_size, padding=pad)

    def forward(self, x, seg):
        normalized = self.param_free_norm(x)
        actv = self.mlp_shared(self.resize(seg, x.shape[2:]))
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Layer):
    """Two SPADE -> activation -> spectral 3x3 conv steps plus the input, or a SPADE + spectral 1x1 shortcut when
    the channel count changes; SimAM on the sum for photopen."""

    def __init__(self, fin: int, fout: int, semantic_nc: int, spade: dict, flavour: str):
        super().__init__()
        self.learned_shortcut = fin != fout
        self.simam = flavour == "photopen"
        fmiddle = min(fin, fout)
        update = "op" if flavour == "paddlecv" else "hook"
        self.spade_0 = SPADE(fin, semantic_nc, flavour=flavour, **spade)
        self.spade_1 = SPADE(fmiddle, semantic_nc, flavour=flavour, **spade)
        if self.learned_shortcut:
            self.spade_s = SPADE(fin, semantic_nc, flavour=flavour, **spade)
        self.act_conv_0 = nn.Sequential(_activation(flavour, "block"), SpectralNormConv2D(fin, fmiddle, 3, True, update))
        self.act_conv_1 = nn.Sequential(_activation(flavour, "block"), SpectralNormConv2D(fmiddle, fout, 3, True, update))
        if self.learned_shortcut:
            self.act_conv_s = nn.Sequential(SpectralNormConv2D(fin, fout, 1, False, update))

    def forward(self, x, seg):
        x_s = self.act_conv_s(self.spade_s(x, seg)) if self.learned_shortcut else x
        dx = self.act_conv_0(self.spade_0(x, seg))
        dx = self.act_conv_1(self.spade_1(dx, seg))
        return simam(dx + x_s) if self.simam else dx + x_s


def _blocks(ngf: int, num_upsampling_layers: str) -> list[tuple[str, int, int]]:
    """(name, in channels, out channels) of the residual blocks, in order."""
    blocks = [("head_0", 16, 16), ("G_middle_0", 16, 16), ("G_middle_1", 16, 16),
              ("up_0", 16, 8), ("up_1", 8, 4), ("up_2", 4, 2), ("up_3", 2, 1)]
    blocks = [(name, fin * ngf, fout * ngf) for name, fin, fout in blocks]
    if num_upsampling_layers == "most":
        blocks.append(("up_4", ngf, ngf // 2))
    return blocks


def parse_norm_G(norm_G: str) -> tuple[str, int]:
    """``spectralspadebatch3x3`` -> ("batch", 3): the parameter-free norm and SPADE's kernel size."""
    parsed = re.fullmatch(r"(?:spectral)?spade(batch|syncbatch|instance)(\d)x\d", norm_G)
    if parsed is None:
        raise ValueError(f"norm_G {norm_G!r} is not spade<batch|syncbatch|instance><k>x<k> (optionally 'spectral' first)")
    kind = parsed.group(1)
    return ("batch" if kind == "syncbatch" else kind), int(parsed.group(2))


class SPADEGenerator(nn.Layer):
    """SPADE generator, label map [N, semantic_nc, H, W] -> image [N, 3, H', W'] in [-1, 1].

    H' x W' is fixed by the configuration: the latent grid is crop_size / 2**n wide and
    round(width / aspect_ratio) high (n = 5, 6, 7 for "normal", "more", "most"), upsampled n times.
    The label map is resized to each stage (nearest), so any size works; the configured size is what
    the checkpoints were trained at. flavour: "paddlecv" or "photopen" (see the module docstring).
    """

    def __init__(self, semantic_nc: int, ngf: int = 64, num_upsampling_layers: str = "normal", crop_size: int = 256,
                 aspect_ratio: float = 1.0, norm_G: str = "spectralspadebatch3x3", use_vae: bool = False, nef: int = 16,
                 flavour: str = "photopen", nhidden: int = NHIDDEN):
        super().__init__()
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        if use_vae:
            # PaddleGAN's VAE branch reads opt.z_dim, which its options never hold; neither checkpoint uses one.
            raise NotImplementedError("the VAE (style encoder) variant is not implemented: both checkpoints start from the label map")
        if num_upsampling_layers not in _UPSAMPLINGS:
            raise ValueError(f"num_upsampling_layers must be one of {sorted(_UPSAMPLINGS)}, got {num_upsampling_layers!r}")
        norm, kernel_size = parse_norm_G(norm_G)
        if flavour == "paddlecv" and (norm, kernel_size, num_upsampling_layers) != ("batch", 3, "normal"):
            raise ValueError("PaddleCV's SPADE has batch norm, 3x3 SPADE convs and 5 upsamplings only")
        self.semantic_nc, self.flavour, self.num_upsampling_layers = semantic_nc, flavour, num_upsampling_layers
        self.sw = crop_size // 2 ** _UPSAMPLINGS[num_upsampling_layers]
        self.sh = round(self.sw / aspect_ratio)
        spade = dict(norm=norm, kernel_size=kernel_size, nhidden=nhidden)

        self.fc = nn.Conv2D(semantic_nc, 16 * ngf, 3, padding=1)
        for name, fin, fout in _blocks(ngf, num_upsampling_layers):
            setattr(self, name, SPADEResnetBlock(fin, fout, semantic_nc, spade, flavour))
        self.conv_act = _activation(flavour, "block")
        self.conv_img = nn.Conv2D(ngf // 2 if num_upsampling_layers == "most" else ngf, 3, 3, padding=1)
        self.resize = NearestResize()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the image."""
        scale = 2 ** _UPSAMPLINGS[self.num_upsampling_layers]
        return self.sh * scale, self.sw * scale

    def forward(self, seg):
        if seg.ndim != 4 or seg.shape[1] != self.semantic_nc:
            raise ValueError(f"expected a label map [N, {self.semantic_nc}, H, W], got shape {list(seg.shape)}")

        x = self.fc(self.resize(seg, [self.sh, self.sw]))
        x = self.up(self.head_0(x, seg))
        x = self.G_middle_0(x, seg)
        if self.num_upsampling_layers in ("more", "most"):
            x = self.up(x)
        x = self.G_middle_1(x, seg)
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if self.num_upsampling_layers == "most" else ()):
            x = getattr(self, name)(self.up(x), seg)
        return paddle.tanh(self.conv_img(self.conv_act(x)))


# ---------------------------------------------------------------- PaddleCV's variable names


def paddlecv_name_table(num_upsampling_layers: str = "normal", use_vae: bool = False, **_config) -> dict[str, str]:
    """{PaddleCV/gan variable name: our parameter name} for every variable ``network_G(..., "generator")`` makes.

    The library's rules (network/base_network.py): ``conv2d(name=n)`` makes ``n_w``/``n_b``;
    ``conv2d_spectral_norm(name=n)`` makes ``n.weight_orig``, then ``fluid.layers.spectral_norm(name=n +
    ".spectral_norm")`` makes u and v with generated names ``n.spectral_norm.w_0``/``w_1``, then the bias ``n_b``;
    SPADE's ``batch_norm`` names its weight, bias and statistics ``n.param_free_norm.{weight,bias,running_mean,
    running_var}``. Blocks are ``generator_<block>``, their SPADEs ``.norm_0/.norm_1/.norm_s``, their convs
    ``.conv_0/.conv_1/.conv_s``. Conv kernels are [out, in, k, k] in both (no fc layer to transpose).
    Other configuration keys are accepted and ignored (their names do not depend on widths).
    """
    if num_upsampling_layers != "normal" or use_vae:
        raise ValueError("PaddleCV's SPADE generator has 5 upsamplings and no VAE")
    table: dict[str, str] = {}

    def conv(lib: str, ours: str) -> None:
        table[f"{lib}_w"], table[f"{lib}_b"] = f"{ours}.weight", f"{ours}.bias"

    def spectral_conv(lib: str, ours: str, bias: bool) -> None:
        table[f"{lib}.weight_orig"] = f"{ours}.weight_orig"
        table[f"{lib}.spectral_norm.w_0"] = f"{ours}.weight_u"
        table[f"{lib}.spectral_norm.w_1"] = f"{ours}.weight_v"
        if bias:
            table[f"{lib}_b"] = f"{ours}.bias"

    def spade(lib: str, ours: str) -> None:
        for part in ("mlp_shared.0", "mlp_gamma", "mlp_beta"):
            conv(f"{lib}.{part}", f"{ours}.{part}")
        for theirs, mine in (("weight", "weight"), ("bias", "bias"), ("running_mean", "_mean"), ("running_var", "_variance")):
            table[f"{lib}.param_free_norm.{theirs}"] = f"{ours}.param_free_norm.{mine}"

    conv(f"{PADDLECV_PREFIX}_fc", "fc")
    for name, fin, fout in _blocks(1, num_upsampling_layers):
        block = f"{PADDLECV_PREFIX}_{name}"
        if fin != fout:
            spade(f"{block}.norm_s", f"{name}.spade_s")
            spectral_conv(f"{block}.conv_s", f"{name}.act_conv_s.0", bias=False)
        for i in (0, 1):
            spade(f"{block}.norm_{i}", f"{name}.spade_{i}")
            spectral_conv(f"{block}.conv_{i}", f"{name}.act_conv_{i}.1", bias=True)
    conv(f"{PADDLECV_PREFIX}_conv_img", "conv_img")
    return table


# ---------------------------------------------------------------- registration


@architecture(
    "spade",
    "SPADE generator: a semantic label map to an image (spatially-adaptive normalisation)",
    configurations={
        "spade_cityscapes": (SPADE_CITYSCAPES, "spade.cityscapes"),
        "photopen_spade": (PHOTOPEN_SPADE, "spade.photopen"),
    },
)
def spade(**overrides):
    """SPADE generator; without arguments PaddleGAN's PhotoPen configuration."""
    return SPADEGenerator(**{**PHOTOPEN_SPADE, **overrides})
