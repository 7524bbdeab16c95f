"""StyleGAN2 generator (PaddleGAN's ``StyleGANv2Generator`` layout and computation).

A latent z goes through the mapping network (pixel norm, then equalized-lr
linear layers with a small learning-rate multiplier) to w. Each synthesis layer
turns w into its own style s with an affine "modulation" layer (``style_affine``);
s scales the input channels of a convolution weight, which is then demodulated
(normalised per output channel). Resolution doubles at each level with a
transposed convolution followed by a blur (FIR filter with upfirdn2d semantics);
per-pixel noise is added after every convolution; ToRGB layers add their image
at each level to the upsampled image of the level below.

Parameter and buffer names follow PaddleGAN so its checkpoints load: manifests
``stylegan2_ffhq_config_f_1024``, ``stylegan2_animeface_512`` and ``stylegan2_256``.
``is_concat=True`` gives the variant that GPEN builds on: noise maps are
concatenated as extra channels instead of added, and must be given explicitly
(GPEN passes its encoder's features, as many channels as each level's width).
"""
from __future__ import annotations

import math
import random

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# ---------------------------------------------------------------- FIR filtering


def fir_kernel(taps) -> paddle.Tensor:
    """A 2-D filter from 1-D taps (outer product), normalised to sum 1."""
    taps = paddle.to_tensor(taps, dtype="float32")
    kernel = taps.unsqueeze(0) * taps.unsqueeze(1) if taps.ndim == 1 else taps
    return kernel / kernel.sum()


def _insert_zeros(x, factor: int):
    """[N, 1, H, W] -> [N, 1, H*factor, W*factor]: each pixel followed by factor-1 zeros per axis."""
    height, width = x.shape[2], x.shape[3]
    x = x.reshape([-1, height, 1, width, 1])
    zeros = paddle.zeros_like(x)
    x = paddle.concat([x] + [zeros] * (factor - 1), axis=2)
    zeros = paddle.zeros_like(x)
    x = paddle.concat([x] + [zeros] * (factor - 1), axis=4)
    return x.reshape([-1, 1, height * factor, width * factor])


def upfirdn2d(x, kernel, up: int = 1, down: int = 1, pad=(0, 0)):
    """Upsample by zero insertion, pad, convolve with `kernel`, keep every `down`-th pixel.

    `pad` = (before, after), the same on both axes; negative values crop.
    Each channel is filtered alone with the same 2-D kernel.
    """
    channels = x.shape[1]
    kernel_h, kernel_w = kernel.shape
    x = x.reshape([-1, 1, x.shape[2], x.shape[3]])
    if up > 1:
        x = _insert_zeros(x, up)
    before, after = pad
    x = F.pad(x, [max(before, 0), max(after, 0), max(before, 0), max(after, 0)])
    if before < 0 or after < 0:
        height, width = x.shape[2], x.shape[3]
        x = x[:, :, max(-before, 0) : height - max(-after, 0), max(-before, 0) : width - max(-after, 0)]
    # conv2d correlates; flipping the kernel makes it a true convolution.
    x = F.conv2d(x, paddle.flip(kernel, [0, 1]).reshape([1, 1, kernel_h, kernel_w]))
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x.reshape([-1, channels, x.shape[2], x.shape[3]])


class Upsample2x(nn.Layer):
    """Zero-insertion 2x upsampling followed by the blur filter (kept as the buffer ``kernel``)."""

    def __init__(self, blur_taps, factor: int = 2):
        super().__init__()
        self.factor = factor
        # Zero insertion keeps 1/factor^2 of the energy: the kernel makes it up.
        kernel = fir_kernel(blur_taps) * (factor * factor)
        self.register_buffer("kernel", kernel)
        excess = kernel.shape[0] - factor
        self.pad = ((excess + 1) // 2 + factor - 1, excess // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Blur(nn.Layer):
    """FIR blur after a strided transposed convolution (its kernel is not saved in checkpoints)."""

    def __init__(self, blur_taps, pad, gain: float = 1.0):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(blur_taps) * gain, persistable=False)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


# ---------------------------------------------------------------- building blocks

_LRELU_GAIN = math.sqrt(2.0)


def scaled_leaky_relu(x, bias=None):
    """leaky_relu(x + bias, 0.2) * sqrt(2): keeps the activations' variance (PaddleGAN's fused_leaky_relu)."""
    if bias is not None:
        x = x + bias.reshape([1, bias.shape[0]] + [1] * (x.ndim - 2))
    return F.leaky_relu(x, negative_slope=0.2) * _LRELU_GAIN


class PixelNorm(nn.Layer):
    def forward(self, x):
        return x * paddle.rsqrt(paddle.mean(x * x, axis=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Layer):
    """Linear layer with equalized learning rate: weights stored at unit scale, scaled at run time.

    ``lr_mul`` slows the layer's effective learning rate (the mapping network
    uses 0.01): weights are stored divided by it and multiplied back here.
    The weight is [in, out] (Paddle's linear layout).
    """

    def __init__(self, in_dim, out_dim, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = self.create_parameter([in_dim, out_dim], default_initializer=nn.initializer.Normal(0.0, 1.0 / lr_mul))
        self.bias = self.create_parameter([out_dim], default_initializer=nn.initializer.Constant(bias_init))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x):
        bias = self.bias * self.lr_mul
        if self.activate:
            return scaled_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias=bias)


class ModulatedConv2D(nn.Layer):
    """Convolution whose weight is scaled per input channel by a style, per sample.

    The style given to ``forward`` is already modulated (``self.modulation(w)``,
    see ``StyleGAN2Generator.style_affine``). PaddleGAN builds one weight per
    sample and runs a grouped convolution; scaling the input channels by the
    style and the output channels by the demodulation factor computes the same
    thing with one shared weight, so the batch size may vary (static export).
    """

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, demodulate=True, upsample=False, blur_taps=(1, 3, 3, 1)):
        super().__init__()
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size * kernel_size)
        self.weight = self.create_parameter(
            [1, out_channel, in_channel, kernel_size, kernel_size], default_initializer=nn.initializer.Normal()
        )
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)
        if upsample:
            factor = 2
            # Pads that make transposed conv (stride 2) + blur give exactly twice the input size.
            excess = (len(blur_taps) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_taps, pad=((excess + 1) // 2 + factor - 1, excess // 2 + 1), gain=factor * factor)

    def forward(self, x, style):
        weight = self.weight[0] * self.scale  # [out, in, k, k]
        x = x * style.reshape([-1, self.in_channel, 1, 1])
        if self.upsample:
            # conv2d_transpose takes its weight as [in, out, k, k].
            out = self.blur(F.conv2d_transpose(x, weight.transpose([1, 0, 2, 3]), stride=2, padding=0))
        else:
            out = F.conv2d(x, weight, padding=self.kernel_size // 2)
        if self.demodulate:
            # 1 / norm of each sample's modulated weight per output channel: sum_i s_i^2 * sum_k w_oik^2.
            energy = paddle.matmul(style * style, (weight * weight).sum([2, 3]), transpose_y=True)
            out = out * paddle.rsqrt(energy + 1e-8).reshape([-1, self.out_channel, 1, 1])
        return out


class NoiseInjection(nn.Layer):
    """Adds (or, for GPEN, concatenates) a learned multiple of a noise map."""

    def __init__(self, is_concat=False):
        super().__init__()
        self.weight = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))
        self.is_concat = is_concat

    def forward(self, x, noise=None):
        if noise is None:
            noise = paddle.randn([x.shape[0], 1, x.shape[2], x.shape[3]])
        if self.is_concat:
            return paddle.concat([x, self.weight * noise], axis=1)
        return x + self.weight * noise


class ConstantInput(nn.Layer):
    """The learned 4x4 map that synthesis starts from."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.input = self.create_parameter([1, channels, size, size], default_initializer=nn.initializer.Normal())

    def forward(self, batch):
        return self.input.tile([batch, 1, 1, 1])


class ScaledLeakyReLU(nn.Layer):
    """Bias + leaky ReLU + gain (PaddleGAN's FusedLeakyReLU; parameter ``bias``)."""

    def __init__(self, channels):
        super().__init__()
        self.bias = self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        return scaled_leaky_relu(x, self.bias)


class StyledConv(nn.Layer):
    def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False, blur_taps=(1, 3, 3, 1), is_concat=False):
        super().__init__()
        self.conv = ModulatedConv2D(in_channel, out_channel, kernel_size, style_dim, upsample=upsample, blur_taps=blur_taps)
        self.noise = NoiseInjection(is_concat=is_concat)
        self.activate = ScaledLeakyReLU(out_channel * 2 if is_concat else out_channel)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Layer):
    """1x1 modulated conv to RGB (not demodulated), plus the upsampled image of the level below."""

    def __init__(self, in_channel, style_dim, upsample=True, blur_taps=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample2x(blur_taps)
        self.conv = ModulatedConv2D(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = self.create_parameter([1, 3, 1, 1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


# ---------------------------------------------------------------- generator


def _seeded_normal(shape, seed: int):
    """Standard normal samples that depend only on `seed` (Box-Muller), leaving the global RNG alone."""
    u1 = 1.0 - paddle.uniform(shape, min=0.0, max=1.0, seed=seed)  # in (0, 1]: log is finite
    u2 = paddle.uniform(shape, min=0.0, max=1.0, seed=seed + 1)
    return paddle.sqrt(-2.0 * paddle.log(u1)) * paddle.cos(2.0 * math.pi * u2)


class StyleGAN2Generator(nn.Layer):
    """StyleGAN2 generator: ``(image, latent or None) = net([z], ...)``.

    size: output resolution (a power of two, >= 8). style_dim: length of z and w.
    n_mlp: mapping layers. channel_multiplier: widens levels from 64x64 up (config-f: 2).
    narrow: scales every level's width (ours, for small test variants; 1 = PaddleGAN).
    """

    MEAN_LATENT_SEED = 2020

    def __init__(
        self, size, style_dim, n_mlp, channel_multiplier=2, blur_kernel=(1, 3, 3, 1), lr_mlp=0.01, is_concat=False, narrow=1.0
    ):
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.log_size = int(math.log(size, 2))
        self.num_layers = (self.log_size - 2) * 2 + 1  # noise maps: one per StyledConv
        self.n_latent = self.log_size * 2 - 2  # w vectors in a W+ latent (neighbouring layers share one)
        self.is_concat = is_concat
        widen = 2 if is_concat else 1  # concatenated noise doubles each conv's output

        # Index 0 is PixelNorm, so the linear layers are style.1 .. style.n_mlp as in the checkpoints.
        self.style = nn.Sequential(
            PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activate=True) for _ in range(n_mlp)]
        )

        base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
                256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
        self.channels = {res: max(1, int(width * narrow)) for res, width in base.items()}

        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_taps=blur_kernel, is_concat=is_concat)
        self.to_rgb1 = ToRGB(self.channels[4] * widen, style_dim, upsample=False)

        self.convs = nn.LayerList()
        self.to_rgbs = nn.LayerList()
        in_channel = self.channels[4]
        for level in range(3, self.log_size + 1):
            out_channel = self.channels[2**level]
            self.convs.append(
                StyledConv(in_channel * widen, out_channel, 3, style_dim, upsample=True, blur_taps=blur_kernel, is_concat=is_concat)
            )
            self.convs.append(StyledConv(out_channel * widen, out_channel, 3, style_dim, blur_taps=blur_kernel, is_concat=is_concat))
            # PaddleGAN's ToRGB keeps the default blur taps whatever blur_kernel says (its kernel is saved).
            self.to_rgbs.append(ToRGB(out_channel * widen, style_dim))
            in_channel = out_channel

        # Fixed noise maps, used with randomize_noise=False (saved in checkpoints).
        self.noises = nn.Layer()
        for index, res in enumerate(self._noise_resolutions()):
            self.noises.register_buffer(f"noise_{index}", paddle.randn([1, 1, res, res]))

    # ------------------------------------------------------------ latents

    def get_latent(self, z):
        """Mapping network: z [B, style_dim] -> w [B, style_dim]."""
        return self.style(z)

    @paddle.no_grad()
    def mean_latent(self, n_latent=4096, seed=MEAN_LATENT_SEED):
        """Mean w over `n_latent` z samples drawn from a fixed seed: [1, style_dim], the same every call."""
        z = _seeded_normal([n_latent, self.style_dim], seed)
        return self.style(z).mean(0, keepdim=True)

    @paddle.no_grad()
    def get_mean_style(self, n_sample=10, n_latent=1024):
        """PaddleGAN's truncation centre: mean w over n_sample * n_latent samples (deterministic here)."""
        return self.mean_latent(n_sample * n_latent)

    def make_noise(self):
        """Fresh noise maps, one per StyledConv (the shapes of ``noises.noise_i``)."""
        return [paddle.randn([1, 1, res, res]) for res in self._noise_resolutions()]

    def _noise_resolutions(self):
        # StyledConv i works at 4x4 (i = 0), then two convs per level: 8, 8, 16, 16, ...
        return [2 ** ((index + 5) // 2) for index in range(self.num_layers)]

    def mix_latents(self, w_a, w_b, layers):
        """W+ latent [B, n_latent, style_dim]: `w_b` at the layer indices in `layers`, `w_a` elsewhere."""
        chosen = set(layers)
        rows = [(w_b if index in chosen else w_a).unsqueeze(1) for index in range(self.n_latent)]
        return paddle.concat(rows, axis=1)

    def truncate(self, w, truncation, truncation_latent, truncation_cutoff=None):
        """Pull w towards `truncation_latent` by `truncation` (0: the mean itself, 1: unchanged).

        With `truncation_cutoff`, only the first entries along axis 1 are pulled
        (the first layers of a W+ latent), as PaddleGAN does.
        """
        pulled = truncation_latent + truncation * (w - truncation_latent)
        if truncation_cutoff is None:
            return pulled
        return paddle.concat([pulled[:, :truncation_cutoff], w[:, truncation_cutoff:]], axis=1)

    def style_affine(self, latent):
        """W+ latent [B, n_latent, style_dim] (or w [B, style_dim]) -> per-layer styles s.

        Order: conv1, to_rgb1, then per level: upsampling conv, conv, to_rgb.
        Neighbouring layers share a w: ToRGB of one level and the upsampling conv of the next.
        """
        if latent.ndim < 3:
            latent = latent.unsqueeze(1).tile([1, self.n_latent, 1])
        styles = [self.conv1.conv.modulation(latent[:, 0]), self.to_rgb1.conv.modulation(latent[:, 1])]
        for level, to_rgb in enumerate(self.to_rgbs):
            first = 2 * level + 1
            styles.append(self.convs[2 * level].conv.modulation(latent[:, first]))
            styles.append(self.convs[2 * level + 1].conv.modulation(latent[:, first + 1]))
            styles.append(to_rgb.conv.modulation(latent[:, first + 2]))
        return styles

    # ------------------------------------------------------------ synthesis

    def synthesis(self, styles, noise=None, randomize_noise=True):
        """Per-layer styles (from ``style_affine``) -> image [B, 3, size, size].

        noise: a list of maps, one per StyledConv; otherwise fresh random maps
        (randomize_noise=True) or the fixed ``noises.noise_i`` buffers.
        """
        if noise is None:
            if randomize_noise:
                noise = [None] * self.num_layers
            else:
                noise = [getattr(self.noises, f"noise_{index}") for index in range(self.num_layers)]

        out = self.input(styles[0].shape[0])
        out = self.conv1(out, styles[0], noise=noise[0])
        skip = self.to_rgb1(out, styles[1])
        for level in range(1, len(self.to_rgbs) + 1):  # level 1 works at 8x8
            if self.is_concat:
                # PaddleGAN's concat (GPEN) wiring: one noise map per level, shared by its two convs.
                up_noise = same_noise = noise[level]
            else:
                up_noise, same_noise = noise[2 * level - 1], noise[2 * level]
            first = 3 * level - 1
            out = self.convs[2 * level - 2](out, styles[first], noise=up_noise)
            out = self.convs[2 * level - 1](out, styles[first + 1], noise=same_noise)
            skip = self.to_rgbs[level - 1](out, styles[first + 2], skip)
        return skip

    def forward(
        self,
        styles,
        return_latents=False,
        inject_index=None,
        truncation=1.0,
        truncation_cutoff=None,
        truncation_latent=None,
        input_is_latent=False,
        noise=None,
        randomize_noise=True,
    ):
        """styles: a list of one or two z (or w with input_is_latent) tensors [B, style_dim].

        One tensor: used for every layer (a W+ tensor [B, n_latent, style_dim] is
        also accepted with input_is_latent). Two tensors: style mixing, the first
        for layers before `inject_index`, the second from it on (random when None).
        truncation < 1 pulls w towards `truncation_latent` (``get_mean_style()`` when None).
        Returns (image in about [-1, 1], the W+ latent if return_latents else None).
        """
        if isinstance(styles, paddle.Tensor):
            styles = [styles]
        if not input_is_latent:
            styles = [self.style(z) for z in styles]
        if truncation < 1.0:
            if truncation_latent is None:
                truncation_latent = self.get_mean_style()
            styles = [self.truncate(w, truncation, truncation_latent, truncation_cutoff) for w in styles]

        if len(styles) < 2:
            w = styles[0]
            latent = w if w.ndim >= 3 else w.unsqueeze(1).tile([1, self.n_latent, 1])
        else:
            if inject_index is None:
                inject_index = random.randint(1, self.n_latent - 1)
            latent = paddle.concat(
                [
                    styles[0].unsqueeze(1).tile([1, inject_index, 1]),
                    styles[1].unsqueeze(1).tile([1, self.n_latent - inject_index, 1]),
                ],
                axis=1,
            )

        image = self.synthesis(self.style_affine(latent), noise=noise, randomize_noise=randomize_noise)
        return image, (latent if return_latents else None)


# ---------------------------------------------------------------- registry


# Configurations: the manifest names of PaddleGAN's three published sizes
# (configs/stylegan_v2_256_ffhq.yaml for 256²).
@architecture(
    "stylegan2", "StyleGAN2 generator, config-f (PaddleGAN StyleGANv2Generator)", default_weights="stylegan2.ffhq_1024",
    configurations={
        "stylegan2_ffhq_config_f_1024": ({"size": 1024}, "stylegan2.ffhq_1024"),
        "stylegan2_animeface_512": ({"size": 512}, "stylegan2.animeface_512"),
        "stylegan2_256": ({"size": 256}, None),
    },
)
def stylegan2(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2, **overrides):
    return StyleGAN2Generator(size, style_dim, n_mlp, channel_multiplier=channel_multiplier, **overrides)
