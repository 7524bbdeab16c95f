"""Face segmentation networks of PaddleGAN's portrait applications, in PaddleGAN's parameter layout.

Two networks:

- ``fcn_hrnet_w18``: an FCN head on an HRNet-W18 backbone that separates a face (class 1) from
  its background (class 0). PaddleGAN's photo2cartoon application runs it on the aligned face
  crop and whitens the background before cartooning. Input: RGB in [0, 1] (``x / 255``, no mean
  or std) at 384x384; output: logits [N, 2, H, W] at the input size.
- ``bisenet``: BiSeNet (ResNet-18 context path, attention refinement, feature fusion) that parses
  a face into 19 parts (``BISENET_CLASSES``). PaddleGAN's face parsing and makeup (PSGAN)
  applications run it at 512x512 on RGB ``x / 255`` normalised with ImageNet's mean and std.
  Output: logits [N, 19, H, W] at the input size (``auxiliary_outputs=True`` also returns the two
  auxiliary heads that PaddleGAN's network returns after the main one).

HRNet keeps four branches at 1/4, 1/8, 1/16 and 1/32 of the input (18, 36, 72 and 144
channels). A stem of two stride-2 3x3 convolutions and four bottleneck blocks ("layer1") feeds
three stages of "high-resolution modules" (1, 4 and 3 of them): each runs four basic blocks per
branch and then fuses the branches (every output branch sums all inputs, the coarser ones by a
1x1 convolution and a bilinear upsampling, the finer ones by a chain of stride-2 3x3
convolutions). The four branches are upsampled to 1/4 and concatenated (270 channels) for the
head. Every convolution of HRNet pads the way Paddle's ``padding="same"`` does (for a stride-2
convolution of an even size: nothing before, one after), which the weights were trained with.

The second half of this file holds plain helpers around the networks (numpy and OpenCV, no
paddle): the photo2cartoon pre- and post-processing, and the face-parsing input.
"""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

# ============================================================================ FCN on HRNet-W18

# HRNet-W18: (number of high-resolution modules, blocks per branch, channels per branch) per stage.
HRNET_W18_STAGES = (
    (1, (4, 4), (18, 36)),
    (4, (4, 4, 4), (18, 36, 72)),
    (3, (4, 4, 4, 4), (18, 36, 72, 144)),
)
HRNET_STEM_CHANNELS = 64
HRNET_LAYER1_BLOCKS = 4
BOTTLENECK_EXPANSION = 4


class ConvNorm(nn.Layer):
    """Convolution ('same' padding), batch norm, optional ReLU. Parameters: ``_conv``, ``_batch_norm``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 relu: bool = True, bias: bool = False):
        super().__init__()
        self._conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding="same",
                               bias_attr=None if bias else False)
        self._batch_norm = nn.BatchNorm2D(out_channels)
        self.relu = relu

    def forward(self, x):
        x = self._batch_norm(self._conv(x))
        return F.relu(x) if self.relu else x


class Bottleneck(nn.Layer):
    """1x1 -> 3x3 -> 1x1 (x4 channels) with a shortcut (a 1x1 projection in the first block)."""

    def __init__(self, in_channels: int, channels: int, project: bool):
        super().__init__()
        out_channels = channels * BOTTLENECK_EXPANSION
        self.conv1 = ConvNorm(in_channels, channels, 1)
        self.conv2 = ConvNorm(channels, channels, 3)
        self.conv3 = ConvNorm(channels, out_channels, 1, relu=False)
        self.conv_down = ConvNorm(in_channels, out_channels, 1, relu=False) if project else None

    def forward(self, x):
        shortcut = x if self.conv_down is None else self.conv_down(x)
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + shortcut)


class BasicBlock(nn.Layer):
    """Two 3x3 convolutions with an identity shortcut (HRNet's branches keep their width)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvNorm(channels, channels, 3)
        self.conv2 = ConvNorm(channels, channels, 3, relu=False)

    def forward(self, x):
        return F.relu(self.conv2(self.conv1(x)) + x)


class _Named(nn.Layer):
    """A container whose sublayers carry PaddleGAN's generated names (``bb_layer2_1``...)."""

    def put(self, name: str, layer: nn.Layer) -> nn.Layer:
        self.add_sublayer(name, layer)
        return layer


class Layer1(_Named):
    """HRNet's first stage: bottleneck blocks ``bb_layer2_1``.. at 1/4 resolution (64 -> 256 channels)."""

    def __init__(self, in_channels: int, channels: int, blocks: int):
        super().__init__()
        widths = [in_channels] + [channels * BOTTLENECK_EXPANSION] * (blocks - 1)
        self.blocks = [self.put(f"bb_layer2_{b + 1}", Bottleneck(w, channels, project=b == 0))
                       for b, w in enumerate(widths)]

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class Transition(_Named):
    """From one stage's branches to the next's: a 3x3 conv where a width changes, and a new
    coarsest branch made by a stride-2 3x3 conv of the previous coarsest one."""

    def __init__(self, in_channels, out_channels, tag: str):
        super().__init__()
        self.convs = []
        for i, out_ch in enumerate(out_channels):
            name = f"transition_{tag}_layer_{i + 1}"
            if i < len(in_channels):
                conv = None if in_channels[i] == out_ch else self.put(name, ConvNorm(in_channels[i], out_ch, 3))
            else:
                conv = self.put(name, ConvNorm(in_channels[-1], out_ch, 3, stride=2))
            self.convs.append(conv)

    def forward(self, branches):
        outs = []
        for i, conv in enumerate(self.convs):
            source = branches[i] if i < len(branches) else branches[-1]
            outs.append(source if conv is None else conv(source))
        return outs


class Branches(_Named):
    """Basic blocks run on each branch separately: ``bb_{tag}_branch_layer_{branch}_{block}``."""

    def __init__(self, blocks, channels, tag: str):
        super().__init__()
        self.branches = [
            [self.put(f"bb_{tag}_branch_layer_{i + 1}_{b + 1}", BasicBlock(ch)) for b in range(n)]
            for i, (n, ch) in enumerate(zip(blocks, channels))
        ]

    def forward(self, xs):
        outs = []
        for x, blocks in zip(xs, self.branches):
            for block in blocks:
                x = block(x)
            outs.append(x)
        return outs


class Fuse(_Named):
    """Exchange between branches: output i = ReLU(sum over inputs j of input j brought to branch i).

    A coarser input (j > i): 1x1 conv to branch i's width (``residual_{tag}_layer_{i}_{j}``), then
    bilinear upsampling. A finer input (j < i): i - j stride-2 3x3 convs
    (``residual_{tag}_layer_{i}_{j}_{k}``); the last one changes the width to branch i's, without
    ReLU, the ones before keep input j's width, with ReLU.
    """

    def __init__(self, channels, tag: str):
        super().__init__()
        self.paths = []  # paths[i][j]: None (identity) or a list of layers
        for i, out_ch in enumerate(channels):
            row = []
            for j, in_ch in enumerate(channels):
                if j == i:
                    row.append(None)
                elif j > i:
                    conv = ConvNorm(in_ch, out_ch, 1, relu=False)
                    row.append([self.put(f"residual_{tag}_layer_{i + 1}_{j + 1}", conv)])
                else:
                    steps = i - j
                    row.append([
                        self.put(f"residual_{tag}_layer_{i + 1}_{j + 1}_{k + 1}",
                                 ConvNorm(in_ch, out_ch, 3, stride=2, relu=False) if k == steps - 1
                                 else ConvNorm(in_ch, in_ch, 3, stride=2))
                        for k in range(steps)
                    ])
            self.paths.append(row)

    def forward(self, xs):
        outs = []
        for i, row in enumerate(self.paths):
            total = xs[i]
            for j, path in enumerate(row):
                if path is None:
                    continue
                y = xs[j]
                for layer in path:
                    y = layer(y)
                if j > i:
                    y = F.interpolate(y, size=total.shape[2:], mode="bilinear", align_corners=False)
                total = total + y
            outs.append(F.relu(total))
        return outs


class HighResolutionModule(nn.Layer):
    def __init__(self, blocks, channels, tag: str):
        super().__init__()
        self.branches_func = Branches(blocks, channels, tag)
        self.fuse_func = Fuse(channels, tag)

    def forward(self, xs):
        return self.fuse_func(self.branches_func(xs))


class Stage(_Named):
    """``stage_{name}_{m}`` high-resolution modules, one after another."""

    def __init__(self, modules: int, blocks, channels, name: str):
        super().__init__()
        self.module_list = [self.put(f"stage_{name}_{m + 1}", HighResolutionModule(blocks, channels, f"{name}_{m + 1}"))
                        for m in range(modules)]

    def forward(self, xs):
        for module in self.module_list:
            xs = module(xs)
        return xs


class HRNet(nn.Layer):
    """HRNet backbone: [N, 3, H, W] -> [N, sum(widths), H/4, W/4] (all branches at 1/4, concatenated)."""

    def __init__(self, stages=HRNET_W18_STAGES, stem_channels: int = HRNET_STEM_CHANNELS,
                 layer1_blocks: int = HRNET_LAYER1_BLOCKS):
        super().__init__()
        self.conv_layer1_1 = ConvNorm(3, stem_channels, 3, stride=2)
        self.conv_layer1_2 = ConvNorm(stem_channels, stem_channels, 3, stride=2)
        self.la1 = Layer1(stem_channels, stem_channels, layer1_blocks)
        widths = [stem_channels * BOTTLENECK_EXPANSION]
        for s, (modules, blocks, channels) in enumerate(stages):
            setattr(self, f"tr{s + 1}", Transition(widths, channels, f"tr{s + 1}"))
            setattr(self, f"st{s + 2}", Stage(modules, blocks, channels, f"st{s + 2}"))
            widths = list(channels)
        self.num_stages = len(stages)
        self.out_channels = sum(widths)

    def forward(self, x):
        x = self.la1(self.conv_layer1_2(self.conv_layer1_1(x)))
        xs = [x]
        for s in range(self.num_stages):
            xs = getattr(self, f"st{s + 2}")(getattr(self, f"tr{s + 1}")(xs))
        size = xs[0].shape[2:]
        upsampled = [xs[0]] + [F.interpolate(b, size=size, mode="bilinear", align_corners=False) for b in xs[1:]]
        return paddle.concat(upsampled, axis=1)


class FCNHead(nn.Layer):
    """1x1 conv (with bias) + BN + ReLU at the backbone's width, then a 1x1 classifier."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv_1 = ConvNorm(in_channels, in_channels, 1, bias=True)
        self.cls = nn.Conv2D(in_channels, num_classes, 1)

    def forward(self, x):
        return self.cls(self.conv_1(x))


class FCNHRNet(nn.Layer):
    """FCN on HRNet-W18: [N, 3, H, W] (RGB in [0, 1]) -> logits [N, num_classes, H, W].

    PaddleGAN's network returns a one-element list; this one returns the tensor.
    """

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.backbone = HRNet()
        self.head = FCNHead(self.backbone.out_channels, num_classes)

    def forward(self, x):
        logits = self.head(self.backbone(x))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)


@architecture(
    "fcn_hrnet_w18",
    "Face segmentation: FCN on HRNet-W18, face vs background (PaddleGAN layout)",
    default_weights="fcn_hrnet_w18.faceseg",
    configurations={"faceseg_fcn_hrnetw18": ({}, "fcn_hrnet_w18.faceseg")},
)
def fcn_hrnet_w18(num_classes: int = 2):
    """FCN-HRNet-W18; PaddleGAN's face segmentation has 2 classes (background, face)."""
    return FCNHRNet(num_classes=num_classes)


# ============================================================================ BiSeNet

BISENET_NUM_CLASSES = 19
# The CelebAMask-HQ order of face-parsing.PyTorch (zllrunning), which PSGAN and PaddleGAN's
# checkpoint come from. PaddleGAN does not list the names itself; its FaceParser's label mapper
# (below) is consistent with this order.
BISENET_CLASSES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)
# PaddleGAN's FaceParser.parse (used by its makeup transfer, PSGAN) maps these 19 classes to
# PSGAN's 14 labels: 0 background, 1 face, 2/3 brows, 4/5 eyes, 6 nose, 7 upper lip, 8 mouth,
# 9 lower lip, 10 hair, 11/12 ears, 13 neck; glasses, earrings, neck wear, cloth and hat -> 0.
PSGAN_LABEL_OF_CLASS = (0, 1, 2, 3, 4, 5, 0, 11, 12, 0, 6, 8, 7, 9, 13, 0, 0, 10, 0)
BISENET_INPUT_SIZE = 512
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Layer):
    """Convolution without bias, batch norm, ReLU. Parameters: ``conv``, ``bn``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias_attr=False)
        self.bn = nn.BatchNorm2D(out_channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _global_mean(x):
    return paddle.mean(x, axis=[2, 3], keepdim=True)


class AttentionRefinement(nn.Layer):
    """3x3 conv, then reweight its channels by sigmoid(BN(1x1 conv(global average)))."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels)
        self.conv_atten = nn.Conv2D(out_channels, out_channels, 1, bias_attr=False)
        self.bn_atten = nn.BatchNorm2D(out_channels)

    def forward(self, x):
        feat = self.conv(x)
        return feat * F.sigmoid(self.bn_atten(self.conv_atten(_global_mean(feat))))


class ContextPath(nn.Layer):
    """ResNet-18 features at 1/8, 1/16, 1/32, refined top-down: returns (c2 at 1/8, head16 at 1/8, head32 at 1/16)."""

    def __init__(self):
        super().__init__()
        # Paddle's own ResNet-18 (its fc layer is unused but part of the checkpoint).
        self.backbone = paddle.vision.models.resnet18(pretrained=False)
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128)
        self.conv_head16 = ConvBNReLU(128, 128)
        self.conv_avg = ConvBNReLU(512, 128, kernel_size=1, padding=0)

    def forward(self, x):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        feat8 = b.layer2(b.layer1(x))
        feat16 = b.layer3(feat8)
        feat32 = b.layer4(feat16)

        context = self.conv_avg(_global_mean(feat32))  # [N, 128, 1, 1], broadcast (nearest upsampling)
        sum32 = self.arm32(feat32) + context
        up32 = self.conv_head32(F.interpolate(sum32, size=feat16.shape[2:], mode="nearest"))
        sum16 = self.arm16(feat16) + up32
        up16 = self.conv_head16(F.interpolate(sum16, size=feat8.shape[2:], mode="nearest"))
        return feat8, up16, up32


class FeatureFusion(nn.Layer):
    """Concatenate, 1x1 conv, then add a channel-attention-weighted copy (squeeze by 4)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.convblk = ConvBNReLU(in_channels, out_channels, kernel_size=1, padding=0)
        self.conv1 = nn.Conv2D(out_channels, out_channels // 4, 1, bias_attr=False)
        self.conv2 = nn.Conv2D(out_channels // 4, out_channels, 1, bias_attr=False)

    def forward(self, spatial, context):
        feat = self.convblk(paddle.concat([spatial, context], axis=1))
        attention = F.sigmoid(self.conv2(F.relu(self.conv1(_global_mean(feat)))))
        return feat * attention + feat


class BiSeNetOutput(nn.Layer):
    def __init__(self, in_channels: int, mid_channels: int, num_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(in_channels, mid_channels)
        self.conv_out = nn.Conv2D(mid_channels, num_classes, 1, bias_attr=False)

    def forward(self, x):
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Layer):
    """BiSeNet face parser: [N, 3, H, W] (ImageNet-normalised RGB) -> logits [N, n_classes, H, W].

    As in PaddleGAN, the ResNet-18 1/8 features stand in for the spatial path, and the logits are
    upsampled to the input size by nearest neighbour. PaddleGAN's network returns
    (main, aux16, aux32); this one returns the main logits unless ``auxiliary_outputs`` is set.
    """

    def __init__(self, n_classes: int = BISENET_NUM_CLASSES, auxiliary_outputs: bool = False):
        super().__init__()
        self.auxiliary_outputs = auxiliary_outputs
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = BiSeNetOutput(256, 256, n_classes)
        self.conv_out16 = BiSeNetOutput(128, 64, n_classes)
        self.conv_out32 = BiSeNetOutput(128, 64, n_classes)

    def forward(self, x):
        size = x.shape[2:]
        feat8, context8, context16 = self.cp(x)
        logits = F.interpolate(self.conv_out(self.ffm(feat8, context8)), size=size, mode="nearest")
        if not self.auxiliary_outputs:
            return logits
        aux16 = F.interpolate(self.conv_out16(context8), size=size, mode="nearest")
        aux32 = F.interpolate(self.conv_out32(context16), size=size, mode="nearest")
        return logits, aux16, aux32


@architecture(
    "bisenet",
    "Face parsing into 19 parts: BiSeNet with a ResNet-18 context path (PaddleGAN layout)",
    default_weights="bisenet.face_parsing",
    configurations={"bisenet_face_parsing": ({}, "bisenet.face_parsing")},
)
def bisenet(n_classes: int = BISENET_NUM_CLASSES, auxiliary_outputs: bool = False):
    """BiSeNet; PaddleGAN's face parser has 19 classes (``BISENET_CLASSES``)."""
    return BiSeNet(n_classes=n_classes, auxiliary_outputs=auxiliary_outputs)


# ============================================================================ helpers
# Plain numpy and OpenCV (imported when used; no paddle), as PaddleGAN prepares and reads these networks.

FACESEG_INPUT_SIZE = 384


def faceseg_input(rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 image [H, W, 3] -> the FCN-HRNet input [1, 3, 384, 384] float32 in [0, 1].

    As PaddleGAN's FaceSeg: OpenCV area resize to 384x384 (whatever the aspect), then ``/ 255``
    (no mean or std).
    """
    import cv2

    rgb = _rgb_uint8(rgb)
    small = cv2.resize(rgb, (FACESEG_INPUT_SIZE, FACESEG_INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis].copy()


def faceseg_mask(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """FCN-HRNet logits ([1, 2, h, w] or [2, h, w]) -> the face mask [height, width] float32, 0 or 1.

    As PaddleGAN's FaceSeg: the arg-max class (no softmax; a tie counts as background), as a
    uint8 0/1 image resized bilinearly by OpenCV to the image's size, which keeps it 0/1
    (PaddleGAN then scales it to 0/255; photo2cartoon divides by 255 again after resizing it to
    256x256, which softens its edge).
    """
    import cv2

    logits = np.asarray(logits)
    if logits.ndim == 4:
        if logits.shape[0] != 1:
            raise ValueError(f"faceseg_mask takes one image's logits, got a batch of {logits.shape[0]}")
        logits = logits[0]
    if logits.ndim != 3 or logits.shape[0] != 2:
        raise ValueError(f"expected logits [1, 2, h, w] or [2, h, w], got {list(np.shape(logits))}")
    labels = np.argmax(logits, axis=0).astype(np.uint8)
    mask = cv2.resize(labels, (int(width), int(height)))  # OpenCV's default: bilinear
    return mask.astype(np.float32)


def whiten_background(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``rgb * mask + 255 * (1 - mask)`` as float32 (photo2cartoon's input and output step).

    rgb: [H, W, 3] (uint8 or float, 0..255); mask: [H, W] or [H, W, 1] in [0, 1].
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim == 2:
        mask = mask[:, :, np.newaxis]
    return np.asarray(rgb, dtype=np.float32) * mask + 255.0 * (1.0 - mask)


def face_parsing_input(rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 image [H, W, 3] -> the BiSeNet input [1, 3, 512, 512] float32.

    As PaddleGAN's face parsing application: OpenCV bilinear resize to 512x512, ``/ 255``, then
    ImageNet's mean and std per channel.
    """
    import cv2

    rgb = _rgb_uint8(rgb)
    image = cv2.resize(rgb, (BISENET_INPUT_SIZE, BISENET_INPUT_SIZE)).astype(np.float32) / 255.0
    image = (image - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return image.transpose(2, 0, 1)[np.newaxis].astype(np.float32)


def face_parsing_labels(logits: np.ndarray) -> np.ndarray:
    """BiSeNet logits ([1, 19, h, w] or [19, h, w]) -> class indices [h, w] uint8 (``BISENET_CLASSES``)."""
    logits = np.asarray(logits)
    if logits.ndim == 4:
        logits = logits[0]
    return np.argmax(logits, axis=0).astype(np.uint8)


def psgan_labels(labels: np.ndarray) -> np.ndarray:
    """BiSeNet class indices -> PaddleGAN's makeup (PSGAN) labels 0..13 (``PSGAN_LABEL_OF_CLASS``)."""
    return np.asarray(PSGAN_LABEL_OF_CLASS, dtype=np.uint8)[np.asarray(labels)]


def _rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {list(rgb.shape)}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    return rgb
