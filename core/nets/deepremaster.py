"""DeepRemaster (Iizuka & Simo-Serra, SIGGRAPH Asia 2019) in PaddleGAN's parameter layout.

Two networks remaster an old film a few frames at a time; both work on clips ``[B, C, T, H, W]``:

- ``RemasterRestorer`` (PaddleGAN's ``NetworkR``): restoration of the grey clip (noise, scratches,
  contrast, sharpness). Thirteen 3x3x3 convolutions (each but the last followed by batch norm and
  ELU), so every output frame sees its neighbours; space goes down to 1/4 and back up by trilinear
  x2 upsampling, time keeps its length. The result, through tanh, is *added* to the input, and the
  sum is clipped to [0, 1]:
  ``out = clip(x + tanh(f(x - 0.4462414)), 0, 1)``. A grey clip [B, 1, T, H, W] in [0, 1] gives the
  restored luminance [B, 1, T, H, W] in [0, 1]. H and W must be multiples of 4.
- ``RemasterColorizer`` (PaddleGAN's ``NetworkC``): colour for the restored clip. A per-frame
  encoder (1x3x3 convolutions) takes the clip to 1/8 and 1/16 of its size; at both scales
  *source-reference attention* lets every source position read the features of the reference
  colour pictures (a second encoder on RGB references, ``[B, N, 3, h, w]``); self-attention over the
  whole clip follows at 1/16 and 1/8, and a 3x3x3 decoder goes back to full size. Out comes the
  LAB chroma [B, 2, T, H, W] through a sigmoid, in (0, 1). Without references the two
  source-reference layers are skipped. H and W must be multiples of 16.

The attention layers add ``gamma * attention`` to their input, with ``gamma`` 0 at
initialisation (so an untrained colorizer ignores its references). Their attention matrix is
[positions x positions]: the self-attention at 1/8 of a 5-frame 480x352 clip holds 13,200^2
floats (0.7 GB, twice with its softmax), so memory grows with the square of the frame area.

Parameter names are PaddleGAN's (``layers.1.conv3d.weight``, ``stattn1.gamma``...): the published
file ``deep_remaster.pdparams`` holds ``{'modelR': ..., 'modelC': ...}``, registered here as two
checkpoints of that one file.

The second half of this file is the published use (PaddleGAN's ``ppgan/apps/deepremaster_predictor.py``,
itself the authors' ``remaster.py``) as plain numpy functions: frame size, grey and LAB
conversions, reference pictures, and the walk through the video in blocks of 5 frames; and
``remaster_block``, one clip through both networks.

Licence: non-commercial. The authors publish code and model under CC BY-NC-SA 4.0 ("Provided
model and sample code are under a non-commercial creative commons license",
satoshiiizuka/siggraphasia2019_remastering). PaddleGAN's port carries only its own Apache-2.0 header
and does not name the original licence or say the weights are other than the authors' model
(PaddleGAN publishes no training of its own for it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# Subtracted from the grey clip before both networks (the training set's mean luminance), and from
# the RGB reference pictures before the colorizer's reference encoder.
GREY_MEAN = 0.4462414
REFERENCE_MEAN = 0.48

# Spatial sizes the networks accept: the restorer goes down to 1/4, the colorizer to 1/16 and
# concatenates its 1/8 features with the 1/16 ones upsampled.
RESTORER_MULTIPLE = 4
COLORIZER_MULTIPLE = 16


# ============================================================================ layers


class TempConv(nn.Layer):
    """3D convolution, batch norm, ELU (a 1x3x3 kernel by default: per frame)."""

    def __init__(self, in_channels, out_channels, kernel_size=(1, 3, 3), stride=(1, 1, 1), padding=(0, 1, 1)):
        super().__init__()
        self.conv3d = nn.Conv3D(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.bn = nn.BatchNorm3D(out_channels)

    def forward(self, x):
        return F.elu(self.bn(self.conv3d(x)))


def _double_space(x):
    """Trilinear resize to [T, 2H, 2W] (half-pixel centres, as torch's align_corners=False)."""
    t, h, w = x.shape[2:]
    return F.interpolate(x, size=[t, 2 * h, 2 * w], mode="trilinear", align_corners=False, align_mode=0,
                         data_format="NCDHW")


class Upsample(nn.Layer):
    """x2 in space (trilinear), then a 3x3x3 convolution, batch norm and ELU."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv3d = nn.Conv3D(in_channels, out_channels, 3, stride=1, padding=1)
        self.bn = nn.BatchNorm3D(out_channels)

    def forward(self, x):
        return F.elu(self.bn(self.conv3d(_double_space(x))))


class UpsampleConcat(nn.Layer):
    """x2 in space (trilinear), joined with the skip features along channels, then a 3x3x3 TempConv."""

    def __init__(self, up_channels, skip_channels, out_channels):
        super().__init__()
        self.conv3d = TempConv(up_channels + skip_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x, skip):
        return self.conv3d(paddle.concat([_double_space(x), skip], axis=1))


class SourceReferenceAttention(nn.Layer):
    """Every source position attends over all reference positions (all frames, all pixels).

    ``out = source + gamma * V(ref) @ softmax(Q(source)^T K(ref))^T``; with ``reference = source`` it
    is self-attention. Q and K have C/8 channels; returns ``(out, attention [B, Ns, Nr])``.
    """

    def __init__(self, source_channels, reference_channels):
        super().__init__()
        self.query_conv = nn.Conv3D(source_channels, source_channels // 8, 1)
        self.key_conv = nn.Conv3D(reference_channels, reference_channels // 8, 1)
        self.value_conv = nn.Conv3D(reference_channels, reference_channels, 1)
        self.gamma = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, source, reference):
        b, c, t, h, w = source.shape
        query = self.query_conv(source).flatten(2).transpose([0, 2, 1])  # [B, Ns, C/8]
        key = self.key_conv(reference).flatten(2)  # [B, C/8, Nr]
        attention = F.softmax(paddle.bmm(query, key), axis=-1)  # [B, Ns, Nr]
        value = self.value_conv(reference).flatten(2)  # [B, C, Nr]
        read = paddle.bmm(value, attention.transpose([0, 2, 1])).reshape([b, c, t, h, w])
        return self.gamma * read + source, attention


def _check_space(x, multiple: int, what: str) -> None:
    h, w = x.shape[-2:]
    if all(isinstance(v, int) and v > 0 for v in (h, w)) and (h % multiple or w % multiple):
        raise ValueError(f"{what} needs a height and width that are multiples of {multiple}, got {h}x{w}")


# ============================================================================ networks


class RemasterRestorer(nn.Layer):
    """PaddleGAN's ``NetworkR``: grey clip [B, 1, T, H, W] in [0, 1] -> restored clip, same shape, in [0, 1].

    width: channels of the first layer (64 published); every other layer scales with it.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        if width % 4:
            raise ValueError(f"width must be a multiple of 4, got {width}")
        w = width
        cube = dict(kernel_size=3, padding=1)
        self.layers = nn.Sequential(
            nn.Pad3D([1, 1, 1, 1, 1, 1], mode="replicate"),  # W, H and T by one, edge values repeated
            TempConv(1, w, kernel_size=3, stride=(1, 2, 2), padding=0),  # 1/2
            TempConv(w, 2 * w, **cube),
            TempConv(2 * w, 2 * w, **cube),
            TempConv(2 * w, 4 * w, stride=(1, 2, 2), **cube),  # 1/4
            TempConv(4 * w, 4 * w, **cube),
            TempConv(4 * w, 4 * w, **cube),
            TempConv(4 * w, 4 * w, **cube),
            TempConv(4 * w, 4 * w, **cube),
            Upsample(4 * w, 2 * w),  # 1/2
            TempConv(2 * w, w, **cube),
            TempConv(w, w, **cube),
            Upsample(w, w // 4),  # 1/1
            nn.Conv3D(w // 4, 1, 3, stride=1, padding=1),
        )

    def forward(self, x):
        _check_space(x, RESTORER_MULTIPLE, "the DeepRemaster restorer")
        return paddle.clip(x + paddle.tanh(self.layers(x - GREY_MEAN)), 0.0, 1.0)


def _encoder(in_channels: int, w: int, first_padding) -> list:
    """Per-frame encoder to 1/8 of the size, 8w channels (the source's, after its own padding, and the references')."""
    return [
        TempConv(in_channels, w, stride=(1, 2, 2), padding=first_padding),
        TempConv(w, 2 * w),
        TempConv(2 * w, 2 * w),
        TempConv(2 * w, 4 * w, stride=(1, 2, 2)),
        TempConv(4 * w, 4 * w),
        TempConv(4 * w, 4 * w),
        TempConv(4 * w, 8 * w, stride=(1, 2, 2)),
        TempConv(8 * w, 8 * w),
        TempConv(8 * w, 8 * w),
    ]


class RemasterColorizer(nn.Layer):
    """PaddleGAN's ``NetworkC``: restored grey clip [B, 1, T, H, W] in [0, 1] (and optionally reference
    pictures [B, N, 3, h, w], RGB in [0, 1]) -> LAB chroma [B, 2, T, H, W] in (0, 1).

    width: channels of the first layer (64 published, giving 512 at 1/8 and 1/16); a multiple of 8.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        if width % 8:
            raise ValueError(f"width must be a multiple of 8, got {width}")
        w = width
        deep = 8 * w
        cube = dict(kernel_size=3, padding=1)
        # The source is padded by one pixel in H and W (edge values), not in time; the first
        # convolution then needs no padding of its own. The references are padded with zeros.
        self.down1 = nn.Sequential(nn.Pad3D([1, 1, 1, 1, 0, 0], mode="replicate"), *_encoder(1, w, first_padding=0))  # 1/8
        self.flat = nn.Sequential(TempConv(deep, deep), TempConv(deep, deep))
        self.down2 = nn.Sequential(TempConv(deep, deep, stride=(1, 2, 2)), TempConv(deep, deep))  # 1/16
        self.stattn1 = SourceReferenceAttention(deep, deep)
        self.stattn2 = SourceReferenceAttention(deep, deep)
        self.selfattn1 = SourceReferenceAttention(deep, deep)
        self.conv1 = TempConv(deep, deep)
        self.up1 = UpsampleConcat(deep, deep, deep)  # 1/8
        self.selfattn2 = SourceReferenceAttention(deep, deep)
        self.conv2 = TempConv(deep, 4 * w, **cube)
        self.up2 = nn.Sequential(Upsample(4 * w, 2 * w), TempConv(2 * w, w, **cube))  # 1/4
        self.up3 = nn.Sequential(Upsample(w, w // 2), TempConv(w // 2, w // 4, **cube))  # 1/2
        self.up4 = nn.Sequential(Upsample(w // 4, w // 8), nn.Conv3D(w // 8, 2, 3, stride=1, padding=1))  # 1/1
        self.reffeatnet1 = nn.Sequential(*_encoder(3, w, first_padding=(0, 1, 1)))  # references to 1/8
        self.reffeatnet2 = nn.Sequential(TempConv(deep, deep, stride=(1, 2, 2)), TempConv(deep, deep),
                                         TempConv(deep, deep))  # 1/16

    def forward(self, x, x_refs=None):
        _check_space(x, COLORIZER_MULTIPLE, "the DeepRemaster colorizer")
        eighth = self.down1(x - GREY_MEAN)
        if x_refs is not None:
            # [B, N, 3, h, w] -> [B, 3, N, h, w]: the pictures take the place of time.
            ref_eighth = self.reffeatnet1(x_refs.transpose([0, 2, 1, 3, 4]) - REFERENCE_MEAN)
            eighth, _ = self.stattn1(eighth, ref_eighth)
        skip = self.flat(eighth)
        out = self.down2(eighth)
        if x_refs is not None:
            out, _ = self.stattn2(out, self.reffeatnet2(ref_eighth))
        out = self.conv1(out)
        out, _ = self.selfattn1(out, out)
        out = self.up1(out, skip)
        out, _ = self.selfattn2(out, out)
        out = self.up4(self.up3(self.up2(self.conv2(out))))
        return F.sigmoid(out)


@architecture("deepremaster_restorer",
              "DeepRemaster restoration: temporal 3D-conv residual on a grey clip (PaddleGAN NetworkR)",
              default_weights="deepremaster_restorer.paddlegan",
              configurations={"deepremaster_modelR": ({}, "deepremaster_restorer.paddlegan")})
def deepremaster_restorer(width=64):
    return RemasterRestorer(width=width)


@architecture("deepremaster_colorizer",
              "DeepRemaster colorization: source-reference attention on reference colour pictures (PaddleGAN NetworkC)",
              default_weights="deepremaster_colorizer.paddlegan",
              configurations={"deepremaster_modelC": ({}, "deepremaster_colorizer.paddlegan")})
def deepremaster_colorizer(width=64):
    return RemasterColorizer(width=width)


# ============================================================================ published use
# PaddleGAN's DeepRemasterPredictor (ppgan/apps/deepremaster_predictor.py), the authors' remaster.py
# ported. Plain numpy (paddle only in remaster_block); OpenCV, scikit-image and Pillow are imported where used.
#
# What it does with a video:
# 1. every frame is resized (OpenCV, bilinear) to ``frame_size(width, height)``: the short side to
#    ``MINDIM``, both sides rounded to multiples of 16;
# 2. the frames are taken ``BLOCK_FRAMES`` (5) at a time, without overlap, the last block shorter
#    (``frame_blocks``): each block is a clip [1, 1, T, H, W] through the networks on its own, so
#    memory stays that of one block however long the video;
# 3. with colorization: the grey clip (``grey_inputs``) goes through the restorer, the restored clip
#    and the references (``reference_pictures``, the same for every block) through the colorizer,
#    and ``colour_from_outputs(restored, chroma)`` gives the RGB frames;
#    restoration only (PaddleGAN's default, colorization=False): the LAB lightness of the colour
#    frames (``lab_inputs``) goes through the restorer and the frames keep their own chroma:
#    ``colour_from_outputs(restored, own_chroma)``;
# 4. frames are written as 8-bit PNG, then joined by ffmpeg at the source frame rate.

MINDIM = 360  # short side of the frames the networks see: PaddleGAN's default (the authors' remaster.py: 320)
AUTHORS_MINDIM = 320
SIZE_MULTIPLE = 16  # both frame sides are rounded to multiples of this
BLOCK_FRAMES = 5  # frames per clip
REFERENCE_EDGE = 256  # the references' common canvas is 256 on its short side
REFERENCE_EXTENSIONS = ("png", "jpg", "bmp")  # what the predictor picks up in the reference folder (any number)
# The predictor converts OpenCV's BGR frame with COLOR_RGB2GRAY: in RGB terms the grey is
# 0.114 R + 0.587 G + 0.299 B (BT.601's red and blue weights swapped). For grey film R = G = B and
# the difference vanishes.
GREY_WEIGHTS_RGB = (0.114, 0.587, 0.299)


def frame_size(width: float, height: float, mindim: int = MINDIM) -> tuple[int, int]:
    """(width, height) the frames are resized to: scaled so the short side is `mindim`, each side then
    rounded (Python's round, halves to even) to a multiple of 16."""
    short = min(width, height)
    scale = mindim / short if short != mindim else 1
    return (round(width * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE, round(height * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def frame_blocks(nframes: int, block: int = BLOCK_FRAMES) -> list[tuple[int, int]]:
    """The predictor's walk through `nframes` frames: (first frame, frame count) of each clip, in order."""
    return [(start, min(block, nframes - start)) for start in range(0, max(nframes, 0), block)]


def resize_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One frame resized to `size` = (width, height) as the predictor does (OpenCV's default, bilinear)."""
    import cv2

    rgb = np.asarray(rgb)
    if (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb
    return cv2.resize(rgb, tuple(int(v) for v in size))


def grey_frame(rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 frame [H, W, 3] -> its grey uint8 [H, W] as the predictor computes it (see ``GREY_WEIGHTS_RGB``).

    OpenCV's BGR2GRAY on RGB data is the predictor's RGB2GRAY on BGR data, rounding included.
    """
    import cv2

    return cv2.cvtColor(_rgb_uint8(rgb), cv2.COLOR_BGR2GRAY)


def grey_inputs(frames_rgb: Sequence[np.ndarray]) -> np.ndarray:
    """RGB uint8 frames (already at ``frame_size``) -> the colorization path's clip [1, 1, T, H, W]: grey / 255."""
    grey = np.stack([grey_frame(f) for f in frames_rgb])
    return (grey.astype(np.float32) / 255.0)[np.newaxis, np.newaxis]


def lab_inputs(frames_rgb: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 frames -> (lightness clip [1, 1, T, H, W], chroma clip [1, 2, T, H, W]), both float32 in [0, 1].

    The restoration-only path (scikit-image's sRGB -> CIELAB, D65): lightness ``uint8(L * 2.55) / 255``
    (truncated to 8 bits), chroma ``clip(ab + 128, 0, 255) / 255``.
    """
    from skimage import color

    lightness, chroma = [], []
    for frame in frames_rgb:
        lab = color.rgb2lab(_rgb_uint8(frame))
        lightness.append((lab[:, :, 0] * 2.55).astype(np.uint8).astype(np.float32) / 255.0)
        chroma.append((np.clip(lab[:, :, 1:3] + 128, 0, 255) / 255.0).astype(np.float32).transpose(2, 0, 1))
    return np.stack(lightness)[np.newaxis, np.newaxis], np.stack(chroma, axis=1)[np.newaxis]


def colour_from_outputs(lightness: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Restored lightness [1, 1, T, H, W] and chroma [1, 2, T, H, W] (both in [0, 1]) -> RGB uint8 frames [T, H, W, 3].

    As the predictor: L = lightness * 100, a and b = clip(chroma * 255 - 128, -100, 100), scikit-image's
    CIELAB -> sRGB, then ``uint8(rgb * 255)`` (truncated). In the colorization path the lightness is
    the restored *grey* value read as L / 100.
    """
    from skimage import color

    lightness, chroma = np.asarray(lightness), np.asarray(chroma)
    if lightness.ndim != 5 or chroma.ndim != 5 or lightness.shape[1] != 1 or chroma.shape[1] != 2:
        raise ValueError(f"expected [1, 1, T, H, W] and [1, 2, T, H, W], got {list(lightness.shape)} and {list(chroma.shape)}")
    lab = np.concatenate([lightness[0], chroma[0]], axis=0).astype(np.float64).transpose(1, 2, 3, 0)  # [T, H, W, 3]
    lab[..., 0] *= 100.0
    lab[..., 1:] = np.clip(lab[..., 1:] * 255.0 - 128.0, -100.0, 100.0)
    return np.stack([(color.lab2rgb(frame) * 255).astype(np.uint8) for frame in lab])


def reference_canvas(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(width, height) every reference picture is fitted into, from their (width, height): 256 on the short
    side, the long side from the *mean* aspect ratio (truncated)."""
    if not sizes:
        raise ValueError("no reference pictures")
    aspect = sum(w / h for w, h in sizes) / len(sizes)
    width = int(REFERENCE_EDGE * aspect) if aspect > 1 else REFERENCE_EDGE
    height = REFERENCE_EDGE if aspect >= 1 else int(REFERENCE_EDGE / aspect)
    return width, height


def fit_reference(image, canvas: tuple[int, int]):
    """A PIL RGB picture on the canvas as the predictor places it: unchanged if it is the canvas's size;
    else its long side scaled to the canvas's long side, both sides floored to multiples of 16, bicubic
    resize, centred on black (a picture of another shape than the canvas may be cropped)."""
    from PIL import Image

    target_w, target_h = canvas
    width, height = image.size
    if (width, height) == (target_w, target_h):
        return image
    scale = max(target_w, target_h) / max(width, height)
    width = int(width * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE
    height = int(height * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE
    resized = image.resize((width, height), Image.BICUBIC)
    canvas_image = Image.new(resized.mode, (target_w, target_h), (0, 0, 0))
    canvas_image.paste(resized, ((target_w - width) // 2, (target_h - height) // 2))
    return canvas_image


def reference_pictures(pictures: Sequence[np.ndarray]) -> np.ndarray:
    """RGB uint8 reference pictures [h, w, 3] (any sizes, any number) -> the colorizer's [1, N, 3, H, W] float32 in [0, 1]."""
    from PIL import Image

    images = [Image.fromarray(_rgb_uint8(p)) for p in pictures]
    canvas = reference_canvas([image.size for image in images])
    fitted = [np.asarray(fit_reference(image, canvas), dtype=np.float32).transpose(2, 0, 1) / 255.0 for image in images]
    return np.stack(fitted)[np.newaxis]


def remaster_block(restorer, colorizer, frames_rgb: Sequence[np.ndarray], references: np.ndarray | None = None) -> np.ndarray:
    """One clip of RGB uint8 frames (at ``frame_size``, at most ``BLOCK_FRAMES``) -> the remastered RGB uint8 frames.

    With a `colorizer`: grey -> restorer -> colorizer (with `references` from ``reference_pictures``,
    or none). Without (None): restoration only, each frame keeping its own chroma.
    """
    with paddle.no_grad():
        if colorizer is None:
            lightness, chroma = lab_inputs(frames_rgb)
            restored = restorer(paddle.to_tensor(lightness)).numpy()
            return colour_from_outputs(restored, chroma)
        restored = restorer(paddle.to_tensor(grey_inputs(frames_rgb)))
        refs = None if references is None else paddle.to_tensor(np.asarray(references, dtype=np.float32))
        chroma = colorizer(restored, refs).numpy()
        return colour_from_outputs(restored.numpy(), chroma)


def _rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB picture [H, W, 3], got shape {list(rgb.shape)}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    return rgb
