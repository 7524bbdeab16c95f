"""PP-MSVSR: multi-stage video super-resolution (PaddleGAN's ``MSVSR`` layout and computation).

A clip [B, T, 3, H, W] becomes [B, T, 3, 4H, 4W] in three stages over per-frame features:

1. **Local fusion** (stage 1): each frame's feature is fused with its two neighbours', each
   aligned onto it by a flow-guided modulated deformable convolution (no recurrence).
2. **Stage 2**: a backward then a forward recurrent propagation with flow-guided deformable
   alignment (as in BasicVSR++, first order). Each branch sees the frame's feature and every
   earlier stage's. An auxiliary head reconstructs an x4 frame from stages 1-2 and encodes it
   back down (two stride-2 convs) into a new per-frame feature.
3. **Stage 3**: another backward and forward propagation on those auxiliary features. Its
   alignment is "refined": the stage-2 offsets and mask of the same step first sample the
   hidden state, and new offsets and masks are predicted as corrections to them.

The per-frame output sums the reconstruction of all stages' features (two pixel-shuffle x2
steps), the bilinear x4 input, and an x4 head on the stage-1 feature alone ("local connection").
The auxiliary x4 frames are the training target of an auxiliary loss: ``forward(clip,
return_auxiliary=True)`` returns them first.

Flow comes from a modified SPyNet: 3x3 convs (LeakyReLU 0.1), three pyramid levels of 12
layers for PP-MSVSR, six levels of 15 layers for PP-MSVSR-L.

Deformable convolution is Paddle's ``DeformConv2D`` with a mask; offsets are (dy, dx) per
group and tap, the flow prior is the (dx, dy) flow swapped. For the CPU backward-pass crashes
that training must avoid (a mask without gradient, grid sampling), see ``core.nets.basicvsr``.

Parameter names follow PaddleGAN (``deform_align.stage3_backward.mdconv``, ``stage1_align``,
``aux_block_down1``...) so its PP-MSVSR and PP-MSVSR-L checkpoints load.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.nets.basicvsr import (
    FlowPyramid,
    PixelShufflePack,
    ResidualBlocksWithInputConv,
    bidirectional_flows,
    check_frame_size,
    deformable_offset_head,
    flow_to_offsets,
    flow_warp,
    offsets_and_mask,
    upsample_x4,
)
from core.nets.edvr import ModulatedDeformConv2D
from core.registry import architecture

# Channel widths of the modified SPyNet's refinement CNNs (8 in: ref, warped supp, flow; 2 out).
TINY_FLOW_WIDTHS = (8, 16, 16, 32, 32, 32, 32, 16, 16, 16, 8, 8, 2)
FLOW_WIDTHS = (8, 16, 16, 32, 32, 32, 64, 32, 32, 32, 16, 16, 16, 16, 16, 2)

STAGE2 = (("stage2_backward", True), ("stage2_forward", False))
STAGE3 = (("stage3_backward", True), ("stage3_forward", False))


def _lrelu(x):
    return F.leaky_relu(x, negative_slope=0.1)


class _ConvLayer(nn.Layer):
    def __init__(self, in_channels, out_channels, activate: bool):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, 3, 1, 1)
        self.activate = activate

    def forward(self, x):
        x = self.conv(x)
        return _lrelu(x) if self.activate else x


class _FlowRefiner(nn.Layer):
    def __init__(self, widths):
        super().__init__()
        last = len(widths) - 2
        self.basic_module = nn.Sequential(
            *[_ConvLayer(cin, cout, activate=i < last) for i, (cin, cout) in enumerate(zip(widths, widths[1:]))]
        )

    def forward(self, x):
        return self.basic_module(x)


class ModifiedSPyNet(FlowPyramid):
    """SPyNet with 3x3 convs: ``num_blocks`` pyramid levels (3 tiny, 6 full)."""

    def __init__(self, num_blocks: int = 6, tiny: bool = False):
        super().__init__()
        self.levels = num_blocks
        widths = TINY_FLOW_WIDTHS if tiny else FLOW_WIDTHS
        self.basic_module = nn.LayerList([_FlowRefiner(widths) for _ in range(num_blocks)])

    def refine(self, level, x):
        return self.basic_module[level](x)


class AlignmentModule(nn.Layer):
    """Flow-guided deformable alignment of a neighbour's (or the hidden) feature onto the current frame.

    condition: [neighbour warped by the flow, current feature]; returns the aligned feature and the
    offsets and mask it used (stage 3 refines them).
    """

    def __init__(self, channels: int, deform_groups: int):
        super().__init__()
        self.conv_offset = deformable_offset_head(2 * channels + 2, channels, deform_groups)
        self.dcn = ModulatedDeformConv2D(channels, channels, 3, padding=1, deformable_groups=deform_groups)

    def forward(self, x, condition, flow):
        learned, mask_logits = offsets_and_mask(self.conv_offset(paddle.concat([condition, flow], axis=1)))
        offset = learned + flow_to_offsets(flow, learned.shape[1] // 2)
        mask = F.sigmoid(mask_logits)
        return self.dcn(x, offset, mask), offset, mask


class ReAlignmentModule(nn.Layer):
    """Stage-3 alignment: sample with the stage-2 offsets and mask (``mdconv``), then predict corrections."""

    def __init__(self, channels: int, deform_groups: int):
        super().__init__()
        self.mdconv = ModulatedDeformConv2D(channels, channels, 3, padding=1, deformable_groups=deform_groups)
        self.conv_offset = deformable_offset_head(2 * channels + 2, channels, deform_groups)
        self.dcn = ModulatedDeformConv2D(channels, channels, 3, padding=1, deformable_groups=deform_groups)

    def forward(self, x, current, flow, prior_offset, prior_mask):
        prior = self.mdconv(x, prior_offset, prior_mask)
        learned, mask_logits = offsets_and_mask(self.conv_offset(paddle.concat([prior, current, flow], axis=1)))
        mask = (F.sigmoid(mask_logits) + prior_mask) / 2.0
        return self.dcn(x, learned + prior_offset, mask)


class MSVSR(nn.Layer):
    """PP-MSVSR; the defaults are PaddleGAN's (the published PP-MSVSR), ``_PP_MSVSR_L`` the large one.

    mid_channels: feature width; num_init_blocks / num_blocks / num_reconstruction_blocks /
    aux_reconstruction_blocks: residual blocks of the feature extractor, of each propagation
    branch, of the final and of the auxiliary reconstruction; only_last: the x4 head has no
    ``conv_hr``; use_tiny_spynet: 3-level flow network instead of 6; deform_groups /
    stage1_groups: deformable groups of stages 2-3 and of stage 1. stage1_blocks is 3 in
    PaddleGAN (not one of its arguments); smaller values only serve tiny test networks.
    """

    def __init__(self, mid_channels: int = 32, num_init_blocks: int = 2, num_blocks: int = 3,
                 num_reconstruction_blocks: int = 2, only_last: bool = True, use_tiny_spynet: bool = True,
                 deform_groups: int = 4, stage1_groups: int = 8, aux_reconstruction_blocks: int = 1,
                 stage1_blocks: int = 3):
        super().__init__()
        mid = self.mid_channels = mid_channels
        self.only_last = only_last
        self.spynet = ModifiedSPyNet(num_blocks=3, tiny=True) if use_tiny_spynet else ModifiedSPyNet(num_blocks=6)
        self.feat_extract = ResidualBlocksWithInputConv(3, mid, num_init_blocks)

        self.deform_align = nn.LayerDict()
        self.backbone = nn.LayerDict()
        for k, (name, _) in enumerate(STAGE2 + STAGE3):
            module = AlignmentModule if name.startswith("stage2") else ReAlignmentModule
            self.deform_align[name] = module(mid, deform_groups)
            # The frame's feature, stage 1, each earlier branch, and the hidden state.
            self.backbone[name] = ResidualBlocksWithInputConv((3 + k) * mid, mid, num_blocks)

        self.stage1_align = AlignmentModule(mid, stage1_groups)
        self.stage1_blocks = ResidualBlocksWithInputConv(3 * mid, mid, stage1_blocks)

        self.reconstruction = ResidualBlocksWithInputConv(6 * mid, mid, num_reconstruction_blocks)
        self.upsample1 = PixelShufflePack(mid, mid, 2, 3)
        self.upsample2 = PixelShufflePack(mid, mid, 2, 3)
        if not only_last:
            self.conv_hr = nn.Conv2D(mid, mid, 3, 1, 1)
        self.conv_last = nn.Conv2D(mid, 3, 3, 1, 1)

        # Auxiliary head after stage 2 (its x4 frames, then back down to a feature for stage 3).
        self.aux_fusion = nn.Conv2D(2 * mid, mid, 3, 1, 1)
        self.aux_reconstruction = ResidualBlocksWithInputConv(4 * mid, mid, aux_reconstruction_blocks)
        self.aux_block_down1 = nn.Sequential(nn.Conv2D(3 + mid, mid, 3, 2, 1), nn.LeakyReLU(0.1), nn.Conv2D(mid, mid, 3, 1, 1))
        self.aux_block_down2 = nn.Sequential(nn.Conv2D(2 * mid, mid, 3, 2, 1), nn.LeakyReLU(0.1), nn.Conv2D(mid, mid, 3, 1, 1))
        self.aux_conv_last = nn.Conv2D(mid, 3, 3, 1, 1)
        # Shared by the auxiliary head and the local connection of the stage-1 feature.
        self.aux_upsample1 = PixelShufflePack(mid, mid, 2, 3)
        self.aux_upsample2 = PixelShufflePack(mid, mid, 2, 3)
        self.hybrid_conv_last = nn.Conv2D(mid, 3, 3, 1, 1)

    # ------------------------------------------------------------ stages

    def _local_fusion(self, spatial, flows_forward, flows_backward):
        t = len(spatial)
        zeros = paddle.zeros_like(spatial[0])
        fused = []
        for i in range(t):
            current = spatial[i]
            aligned = []
            # Next frame (backward flow i -> i+1), then previous frame (forward flow i -> i-1).
            for neighbour, flows in ((i + 1, flows_backward), (i - 1, flows_forward)):
                if 0 <= neighbour < t:
                    flow = flows[:, min(i, neighbour)]
                    condition = paddle.concat([flow_warp(spatial[neighbour], flow), current], axis=1)
                    aligned.append(self.stage1_align(spatial[neighbour], condition, flow)[0])
                else:
                    aligned.append(zeros)
            fused.append(self.stage1_blocks(paddle.concat([current] + aligned, axis=1)))
        return fused

    def _propagate(self, name, backward, current_feats, branches, flows, priors=None):
        """One recurrent branch; returns its per-frame features and (stage 2) the offsets and masks it used."""
        align, backbone = self.deform_align[name], self.backbone[name]
        t = len(current_feats)
        frames = range(t - 1, -1, -1) if backward else range(t)
        out, used = [None] * t, {}
        feat_prop = paddle.zeros_like(current_feats[0])
        for step, frame in enumerate(frames):
            current = current_feats[frame]
            if step > 0:
                flow = flows[:, frame] if backward else flows[:, frame - 1]
                if priors is None:
                    condition = paddle.concat([flow_warp(feat_prop, flow), current], axis=1)
                    feat_prop, offset, mask = align(feat_prop, condition, flow)
                    used[frame] = (offset, mask)
                else:
                    feat_prop = align(feat_prop, current, flow, *priors[frame])
            feat = paddle.concat([current] + [b[frame] for b in branches.values()] + [feat_prop], axis=1)
            feat_prop = feat_prop + backbone(feat)
            out[frame] = feat_prop
        return out, used

    def _auxiliary(self, lqs, spatial, branches):
        images, feats = [], []
        for i in range(len(spatial)):
            low = self.aux_reconstruction(paddle.concat([spatial[i]] + [b[i] for b in branches.values()], axis=1))
            mid = _lrelu(self.aux_upsample1(low))
            high = _lrelu(self.aux_upsample2(mid))
            image = self.aux_conv_last(high) + upsample_x4(lqs[:, i])
            images.append(image)
            down = self.aux_block_down1(paddle.concat([image, high], axis=1))
            down = self.aux_block_down2(paddle.concat([down, mid], axis=1))
            feats.append(self.aux_fusion(paddle.concat([down, low], axis=1)))
        return images, feats

    def _reconstruct(self, lq, spatial, local, others):
        hr = self.reconstruction(paddle.concat([spatial, local] + others, axis=1))
        hr = _lrelu(self.upsample1(hr))
        hr = _lrelu(self.upsample2(hr))
        if not self.only_last:
            hr = _lrelu(self.conv_hr(hr))
        hr = self.conv_last(hr) + upsample_x4(lq)
        local_head = _lrelu(self.aux_upsample2(_lrelu(self.aux_upsample1(local))))
        return self.hybrid_conv_last(local_head) + hr

    def forward(self, lqs, return_auxiliary: bool = False):
        """[B, T, 3, H, W] -> [B, T, 3, 4H, 4W] (and first the auxiliary frames with `return_auxiliary`)."""
        n, t, c, h, w = lqs.shape
        check_frame_size(h, w)
        spatial = self.feat_extract(lqs.reshape([-1, c, h, w])).reshape([n, t, -1, h, w])
        spatial = [spatial[:, i] for i in range(t)]
        flows_forward, flows_backward = bidirectional_flows(self.spynet, lqs)

        branches = {"stage1": self._local_fusion(spatial, flows_forward, flows_backward)}
        priors = {}
        for name, backward in STAGE2:
            flows = flows_backward if backward else flows_forward
            branches[name], priors[name] = self._propagate(name, backward, spatial, branches, flows)

        aux_images, aux_feats = self._auxiliary(lqs, spatial, branches)
        for (name, backward), (stage2_name, _) in zip(STAGE3, STAGE2):
            flows = flows_backward if backward else flows_forward
            branches[name], _ = self._propagate(name, backward, aux_feats, branches, flows, priors[stage2_name])

        later = [b for name, b in branches.items() if name != "stage1"]
        outputs = [self._reconstruct(lqs[:, i], spatial[i], branches["stage1"][i], [b[i] for b in later]) for i in range(t)]
        out = paddle.stack(outputs, axis=1)
        return (paddle.stack(aux_images, axis=1), out) if return_auxiliary else out


_PP_MSVSR_L = {
    "mid_channels": 64, "num_init_blocks": 5, "num_blocks": 7, "num_reconstruction_blocks": 5, "only_last": False,
    "use_tiny_spynet": False, "deform_groups": 8, "aux_reconstruction_blocks": 2,
}


@architecture(
    "ppmsvsr",
    "PP-MSVSR x4 video super-resolution: local fusion, then two rounds of deformable bidirectional propagation",
    default_weights="ppmsvsr.reds_x4",
    configurations={"ppmsvsr_reds_x4": ({}, "ppmsvsr.reds_x4"), "ppmsvsr_l_reds_x4": (_PP_MSVSR_L, "ppmsvsr.l_reds_x4")},
)
def ppmsvsr(mid_channels=32, num_init_blocks=2, num_blocks=3, num_reconstruction_blocks=2, only_last=True,
            use_tiny_spynet=True, deform_groups=4, stage1_groups=8, aux_reconstruction_blocks=1, stage1_blocks=3):
    return MSVSR(mid_channels=mid_channels, num_init_blocks=num_init_blocks, num_blocks=num_blocks,
                 num_reconstruction_blocks=num_reconstruction_blocks, only_last=only_last, use_tiny_spynet=use_tiny_spynet,
                 deform_groups=deform_groups, stage1_groups=stage1_groups,
                 aux_reconstruction_blocks=aux_reconstruction_blocks, stage1_blocks=stage1_blocks)
