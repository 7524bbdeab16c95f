"""EDVR: video restoration with pyramid, cascading and deformable alignment (PaddleGAN's ``EDVRNet`` layout).

Five neighbouring low-resolution frames go in, one x4 frame (the centre one) comes out:

1. Every frame is encoded at three scales (a 3x3 stem and residual blocks at full size, then
   two stride-2 conv pairs for 1/2 and 1/4).
2. PCD alignment warps each frame's features onto the centre frame's with modulated deformable
   convolutions, coarse to fine: offsets estimated at 1/4 are upsampled (and doubled, being
   pixel distances) to guide those at 1/2 and full size, and a last "cascading" deformable
   convolution refines the full-size result.
3. TSA fusion weighs every aligned frame by its per-pixel similarity to the centre frame
   (temporal attention), merges them with a 1x1 conv, and modulates the result with a spatial
   attention map computed on a small pyramid.
4. Residual blocks, two pixel-shuffle x2 steps and two 3x3 convs give the residual that is
   added to the bilinearly upsampled centre frame.

The same PCD and TSA blocks, under other names, make the EDVR-M feature extractor that IconVSR
uses to refill its recurrent features at keyframes (``EDVRFeatureExtractor``).

Deformable convolutions are Paddle's own ``paddle.vision.ops.DeformConv2D`` with a mask, as in
PaddleGAN. Its offsets hold one (dy, dx) pair per deformable group and kernel tap. Inference
works on CPU and GPU. Training: on CPU, DeformConv2D's backward pass crashes (segfault) when the
mask has ``stop_gradient=True`` (a frozen offset branch feeding a trainable convolution);
``ModulatedDeformConv2D`` hands such a mask a gradient it then discards, so that case trains too.

Parameter names follow PaddleGAN (``PCDModule.PCD_Align_L3_dcn.conv_offset_mask``,
``TSAModule.sAtt_L1``...) so its checkpoints load.
"""
from __future__ import annotations

import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.vision.ops import DeformConv2D

from core.registry import architecture


class ModulatedDeformConv2D(DeformConv2D):
    """Paddle's DeformConv2D (same parameters) whose mask always carries a gradient in training.

    On CPU, DeformConv2D's backward pass crashes (segfault) when the mask has stop_gradient=True
    while anything else needs a gradient: a frozen offset branch feeding a trainable convolution.
    Such a mask is replaced by a copy that takes a (discarded) gradient. Inference is unchanged.
    """

    def forward(self, x, offset, mask=None):
        others_need_gradient = not (x.stop_gradient and offset.stop_gradient and self.weight.stop_gradient)
        if mask is not None and mask.stop_gradient and others_need_gradient:
            mask = mask.clone()
            mask.stop_gradient = False
        return super().forward(x, offset, mask)


def _lrelu(x):
    return F.leaky_relu(x, negative_slope=0.1)


def _upsample2(x):
    # nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False, align_mode=0) in PaddleGAN.
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False, align_mode=0)


def _conv3(in_channels, out_channels, stride=1):
    return nn.Conv2D(in_channels, out_channels, 3, stride, 1)


def _conv1(in_channels, out_channels):
    return nn.Conv2D(in_channels, out_channels, 1, 1, 0)


class ResidualBlockNoBN(nn.Layer):
    """x + conv2(relu(conv1(x))), both 3x3 with bias: the residual block of EDVR and the BasicVSR family.

    Initialised as PaddleGAN does (Kaiming normal scaled by 0.1, zero bias), so that a fresh
    network's residual branches start small: recurrent networks built from these blocks stay
    stable over many frames before training, where Paddle's default initialisation compounds.
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        std = 0.1 * math.sqrt(2.0 / (9 * channels))
        for name in ("conv1", "conv2"):
            setattr(self, name, nn.Conv2D(channels, channels, 3, 1, 1,
                                          weight_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(0.0, std)),
                                          bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))))

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


def named_blocks(num_blocks: int, channels: int) -> nn.Sequential:
    """Residual blocks named ``block0``, ``block1``... as PaddleGAN's MakeMultiBlocks names them."""
    return nn.Sequential(*[(f"block{i}", ResidualBlockNoBN(channels)) for i in range(num_blocks)])


class DCNPack(nn.Layer):
    """Modulated deformable 3x3 conv whose offsets and mask come from a conv over a guide feature.

    The guide's conv gives 27 channels per deformable group: 18 offsets, used as they come
    (no flow prior here), and 9 mask logits (sigmoid). It starts at zero, so an untrained
    pack is a plain 3x3 conv with weights halved by the 0.5 mask.
    """

    def __init__(self, channels: int = 64, deform_groups: int = 8):
        super().__init__()
        zero = paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))
        self.conv_offset_mask = nn.Conv2D(channels, 27 * deform_groups, 3, 1, 1, weight_attr=zero, bias_attr=zero)
        self.dcn = ModulatedDeformConv2D(channels, channels, 3, padding=1, deformable_groups=deform_groups)

    def forward(self, x, guide):
        out = self.conv_offset_mask(guide)
        split = out.shape[1] // 3
        offset = out[:, : 2 * split]
        mask = F.sigmoid(out[:, 2 * split :])
        return self.dcn(x, offset, mask)


class PCDAlign(nn.Layer):
    """Pyramid, cascading and deformable alignment of one neighbour's features onto the reference's."""

    def __init__(self, nf: int = 64, groups: int = 8):
        super().__init__()
        self.PCD_Align_L3_offset_conv1 = _conv3(2 * nf, nf)
        self.PCD_Align_L3_offset_conv2 = _conv3(nf, nf)
        self.PCD_Align_L3_dcn = DCNPack(nf, groups)
        self.PCD_Align_L2_offset_conv1 = _conv3(2 * nf, nf)
        self.PCD_Align_L2_offset_conv2 = _conv3(2 * nf, nf)
        self.PCD_Align_L2_offset_conv3 = _conv3(nf, nf)
        self.PCD_Align_L2_dcn = DCNPack(nf, groups)
        self.PCD_Align_L2_fea_conv = _conv3(2 * nf, nf)
        self.PCD_Align_L1_offset_conv1 = _conv3(2 * nf, nf)
        self.PCD_Align_L1_offset_conv2 = _conv3(2 * nf, nf)
        self.PCD_Align_L1_offset_conv3 = _conv3(nf, nf)
        self.PCD_Align_L1_dcn = DCNPack(nf, groups)
        self.PCD_Align_L1_fea_conv = _conv3(2 * nf, nf)
        self.PCD_Align_cas_offset_conv1 = _conv3(2 * nf, nf)
        self.PCD_Align_cas_offset_conv2 = _conv3(nf, nf)
        self.PCD_Align_cascade_dcn = DCNPack(nf, groups)

    def forward(self, neighbour, reference):
        """neighbour, reference: [full, 1/2, 1/4] feature lists of one frame each."""
        offset3 = _lrelu(self.PCD_Align_L3_offset_conv1(paddle.concat([neighbour[2], reference[2]], axis=1)))
        offset3 = _lrelu(self.PCD_Align_L3_offset_conv2(offset3))
        feat3 = _lrelu(self.PCD_Align_L3_dcn(neighbour[2], offset3))

        # Coarser offsets are pixel distances at half the size: upsample and double them.
        offset2 = _lrelu(self.PCD_Align_L2_offset_conv1(paddle.concat([neighbour[1], reference[1]], axis=1)))
        offset2 = _lrelu(self.PCD_Align_L2_offset_conv2(paddle.concat([offset2, _upsample2(offset3) * 2], axis=1)))
        offset2 = _lrelu(self.PCD_Align_L2_offset_conv3(offset2))
        feat2 = self.PCD_Align_L2_dcn(neighbour[1], offset2)
        feat2 = _lrelu(self.PCD_Align_L2_fea_conv(paddle.concat([feat2, _upsample2(feat3)], axis=1)))

        offset1 = _lrelu(self.PCD_Align_L1_offset_conv1(paddle.concat([neighbour[0], reference[0]], axis=1)))
        offset1 = _lrelu(self.PCD_Align_L1_offset_conv2(paddle.concat([offset1, _upsample2(offset2) * 2], axis=1)))
        offset1 = _lrelu(self.PCD_Align_L1_offset_conv3(offset1))
        feat1 = self.PCD_Align_L1_dcn(neighbour[0], offset1)
        feat1 = self.PCD_Align_L1_fea_conv(paddle.concat([feat1, _upsample2(feat2)], axis=1))

        cascade = _lrelu(self.PCD_Align_cas_offset_conv1(paddle.concat([feat1, reference[0]], axis=1)))
        cascade = _lrelu(self.PCD_Align_cas_offset_conv2(cascade))
        return _lrelu(self.PCD_Align_cascade_dcn(feat1, cascade))


class TSAFusion(nn.Layer):
    """Temporal and spatial attention fusion of aligned frames [B, N, C, H, W] -> [B, C, H, W]."""

    def __init__(self, nf: int = 64, nframes: int = 5, center: int = 2):
        super().__init__()
        self.center = center
        self.tAtt_2 = _conv3(nf, nf)
        self.tAtt_1 = _conv3(nf, nf)
        self.fea_fusion = _conv1(nframes * nf, nf)
        self.sAtt_1 = _conv1(nframes * nf, nf)
        self.sAtt_2 = _conv1(2 * nf, nf)
        self.sAtt_3 = _conv3(nf, nf)
        self.sAtt_4 = _conv1(nf, nf)
        self.sAtt_5 = _conv3(nf, nf)
        self.sAtt_add_1 = _conv1(nf, nf)
        self.sAtt_add_2 = _conv1(nf, nf)
        self.sAtt_L1 = _conv1(nf, nf)
        self.sAtt_L2 = _conv3(2 * nf, nf)
        self.sAtt_L3 = _conv3(nf, nf)

    @staticmethod
    def _max_and_mean_halved(x):
        # Average pooling counts the zero padding (exclusive=False), as PaddleGAN's AvgPool2D does.
        pooled_max = F.max_pool2d(x, 3, stride=2, padding=1)
        pooled_avg = F.avg_pool2d(x, 3, stride=2, padding=1, exclusive=False)
        return paddle.concat([pooled_max, pooled_avg], axis=1)

    def forward(self, aligned):
        b, n, c, h, w = aligned.shape
        reference_embedding = self.tAtt_2(aligned[:, self.center])
        embeddings = self.tAtt_1(aligned.reshape([-1, c, h, w])).reshape([b, n, c, h, w])
        # Per-pixel similarity of each frame to the centre frame, as a weight in (0, 1).
        similarity = F.sigmoid(paddle.sum(embeddings * reference_embedding.unsqueeze(1), axis=2))
        weights = paddle.expand(similarity.unsqueeze(2), [b, n, c, h, w]).reshape([b, -1, h, w])
        weighted = aligned.reshape([b, -1, h, w]) * weights

        fused = _lrelu(self.fea_fusion(weighted))

        attention = _lrelu(self.sAtt_1(weighted))
        attention = _lrelu(self.sAtt_2(self._max_and_mean_halved(attention)))
        coarse = _lrelu(self.sAtt_L1(attention))
        coarse = _lrelu(self.sAtt_L2(self._max_and_mean_halved(coarse)))
        coarse = _upsample2(_lrelu(self.sAtt_L3(coarse)))
        attention = _lrelu(self.sAtt_3(attention)) + coarse
        attention = self.sAtt_5(_upsample2(_lrelu(self.sAtt_4(attention))))
        additive = self.sAtt_add_2(_lrelu(self.sAtt_add_1(attention)))
        return fused * F.sigmoid(attention) * 2 + additive


def _align_to_center(pcd, levels, center):
    """levels: [full, 1/2, 1/4] features, each [B, N, C, h, w] -> aligned [B, N, C, H, W]."""
    reference = [level[:, center] for level in levels]
    frames = levels[0].shape[1]
    return paddle.stack([pcd([level[:, i] for level in levels], reference) for i in range(frames)], axis=1)


def _check_divisible_by_four(h, w):
    if h % 4 or w % 4:
        raise ValueError(f"EDVR's three-level pyramid needs a height and width divisible by 4, got {h}x{w}")


class EDVRNet(nn.Layer):
    """EDVR x4 super-resolution of the centre frame of [B, nframes, 3, H, W]; H and W divisible by 4."""

    def __init__(self, nf: int = 64, nframes: int = 5, groups: int = 8, front_RBs: int = 5, back_RBs: int = 10,
                 center: int | None = None, w_TSA: bool = True, in_nf: int = 3, out_nf: int = 3):
        super().__init__()
        self.nf = nf
        self.nframes = nframes
        self.center = nframes // 2 if center is None else center
        self.conv_first = _conv3(in_nf, nf)
        self.feature_extractor = named_blocks(front_RBs, nf)
        self.fea_L2_conv1 = _conv3(nf, nf, stride=2)
        self.fea_L2_conv2 = _conv3(nf, nf)
        self.fea_L3_conv1 = _conv3(nf, nf, stride=2)
        self.fea_L3_conv2 = _conv3(nf, nf)
        self.PCDModule = PCDAlign(nf, groups)
        # Without TSA, the aligned frames are concatenated and merged by one 1x1 conv.
        self.TSAModule = TSAFusion(nf, nframes, self.center) if w_TSA else _conv1(nframes * nf, nf)
        self.w_TSA = w_TSA
        self.reconstructor = named_blocks(back_RBs, nf)
        self.upconv1 = _conv3(nf, 4 * nf)
        self.upconv2 = _conv3(nf, 4 * 64)
        self.HRconv = _conv3(64, 64)
        self.conv_last = _conv3(64, out_nf)

    def forward(self, x):
        b, n, c, h, w = x.shape
        if n != self.nframes:
            raise ValueError(f"this EDVR takes {self.nframes} frames at a time, got {n}")
        _check_divisible_by_four(h, w)
        level1 = self.feature_extractor(_lrelu(self.conv_first(x.reshape([-1, c, h, w]))))
        level2 = _lrelu(self.fea_L2_conv2(_lrelu(self.fea_L2_conv1(level1))))
        level3 = _lrelu(self.fea_L3_conv2(_lrelu(self.fea_L3_conv1(level2))))
        levels = [
            level1.reshape([b, n, self.nf, h, w]),
            level2.reshape([b, n, self.nf, h // 2, w // 2]),
            level3.reshape([b, n, self.nf, h // 4, w // 4]),
        ]
        aligned = _align_to_center(self.PCDModule, levels, self.center)
        fused = self.TSAModule(aligned if self.w_TSA else aligned.reshape([b, -1, h, w]))

        out = self.reconstructor(fused)
        out = _lrelu(F.pixel_shuffle(self.upconv1(out), 2))
        out = _lrelu(F.pixel_shuffle(self.upconv2(out), 2))
        out = self.conv_last(_lrelu(self.HRconv(out)))
        base = F.interpolate(x[:, self.center], scale_factor=4, mode="bilinear", align_corners=False, align_mode=0)
        return out + base


class EDVRFeatureExtractor(nn.Layer):
    """EDVR-M without its reconstruction: the fused feature [B, C, H, W] of 2p+1 frames (IconVSR's refill)."""

    def __init__(self, mid_channels: int = 64, num_frames: int = 5, deform_groups: int = 8,
                 num_blocks_extraction: int = 5, center_frame_idx: int = 2, in_channels: int = 3):
        super().__init__()
        self.mid_channels = mid_channels
        self.center_frame_idx = center_frame_idx
        self.conv_first = _conv3(in_channels, mid_channels)
        # Numbered 0, 1, ... here (PaddleGAN's make_layer), unlike EDVRNet's block0, block1...
        self.feature_extraction = nn.Sequential(*[ResidualBlockNoBN(mid_channels) for _ in range(num_blocks_extraction)])
        self.feat_l2_conv1 = _conv3(mid_channels, mid_channels, stride=2)
        self.feat_l2_conv2 = _conv3(mid_channels, mid_channels)
        self.feat_l3_conv1 = _conv3(mid_channels, mid_channels, stride=2)
        self.feat_l3_conv2 = _conv3(mid_channels, mid_channels)
        self.pcd_alignment = PCDAlign(mid_channels, deform_groups)
        self.fusion = TSAFusion(mid_channels, num_frames, center_frame_idx)

    def forward(self, x):
        b, n, c, h, w = x.shape
        level1 = self.feature_extraction(_lrelu(self.conv_first(x.reshape([-1, c, h, w]))))
        level2 = _lrelu(self.feat_l2_conv2(_lrelu(self.feat_l2_conv1(level1))))
        level3 = _lrelu(self.feat_l3_conv2(_lrelu(self.feat_l3_conv1(level2))))
        levels = [
            level1.reshape([b, n, -1, h, w]),
            level2.reshape([b, n, -1, h // 2, w // 2]),
            level3.reshape([b, n, -1, h // 4, w // 4]),
        ]
        return self.fusion(_align_to_center(self.pcd_alignment, levels, self.center_frame_idx))


@architecture(
    "edvr",
    "EDVR x4 video super-resolution of the centre of 5 frames (PCD alignment, TSA fusion)",
    default_weights="edvr.l_w_tsa_srx4",
    configurations={"edvr_l_w_tsa_srx4": ({"nf": 128, "back_RBs": 40}, "edvr.l_w_tsa_srx4")},
)
def edvr(nf=64, nframes=5, groups=8, front_RBs=5, back_RBs=10, center=None, w_TSA=True):
    return EDVRNet(nf=nf, nframes=nframes, groups=groups, front_RBs=front_RBs, back_RBs=back_RBs, center=center, w_TSA=w_TSA)
