"""Recurrent video super-resolution with optical-flow alignment: BasicVSR, IconVSR, BasicVSR++ (PaddleGAN layouts).

All three take a clip [B, T, 3, H, W] and return [B, T, 3, 4H, 4W]; each frame's output is a
learned residual added to its bilinear x4 upsampling.

- **SPyNet** estimates optical flow between neighbouring frames, coarse to fine on a six-level
  image pyramid: at each level the flow so far is upsampled, the second frame is warped by it,
  and a small CNN adds a correction. Frames are resized to a multiple of 32 for it and the flow
  is resized (and rescaled) back.
- **BasicVSR** runs two recurrences over the clip: backward (last frame to first) and forward.
  At each step the hidden feature is warped by the flow to the current frame, concatenated with
  that frame and refined by residual blocks. Both directions' features are fused per frame and
  upsampled by two pixel-shuffle x2 steps.
- **IconVSR** adds "information refill": at keyframes (every 5th and the last) the hidden feature
  is fused with an EDVR-M feature of the 5 frames around it, which limits error accumulation;
  and the forward pass also sees the backward feature (coupled propagation).
- **BasicVSR++** extracts a feature per frame first, then runs four propagations (backward,
  forward, backward, forward), each seeing the frame's feature and every earlier branch's.
  Alignment is flow-guided and second-order: the modulated deformable convolution
  (``SecondOrderDeformableAlignment``) samples the features from one and two steps back, with
  offsets that are the flows (to the previous frame, and composed to the one before) plus
  learned residuals of at most 10 pixels.

Offsets: Paddle's ``DeformConv2D`` reads one (dy, dx) pair per deformable group and kernel tap.
Flows are (dx, dy), so the flow prior is the flow with its two channels swapped, repeated for
each tap and group (what PaddleGAN passes too). Warping uses ``F.grid_sample`` with
align_corners=True, zero padding (border padding inside SPyNet), as PaddleGAN does.

Training on CPU: two Paddle kernels crash (segfault) in the backward pass when one input needs no
gradient and another does: ``DeformConv2D`` with a mask that has ``stop_gradient=True`` (a frozen
offset branch), and ``grid_sample`` when the sampled tensor needs none but the grid does (SPyNet
warping its input frames). ``ModulatedDeformConv2D`` and ``flow_warp`` hand such an input a
gradient they discard (PaddleGAN sets ``stop_gradient=False`` on SPyNet's inputs for the second).
Inference is unaffected.

Deliberate differences from PaddleGAN, none of which changes a number of its outputs:
- PaddleGAN checks whether a clip is mirror-extended (frame i equals frame T-1-i) to reuse the
  backward flows for the forward direction. Both directions' flows of such a clip are the same
  computation on the same frame pairs, so we always compute both.
- IconVSR pads frames to a multiple of 4 for EDVR and PaddleGAN returns the padded size; we crop
  the output back to 4H x 4W (as MMEditing does).
- A single frame (T = 1) needs no flow; we skip SPyNet instead of calling it on an empty batch.

Long clips: ``upscale_in_chunks`` runs a network on overlapping windows and streams the frames
out, so memory stays flat with the clip's length.

Parameter names follow PaddleGAN (including its ``covn1`` spelling) so its checkpoints load.
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from core.nets.edvr import EDVRFeatureExtractor, ModulatedDeformConv2D, named_blocks
from core.registry import architecture

# PaddleGAN refuses smaller frames: SPyNet's pyramid (and its published weights) expect at least this.
MIN_FLOW_SIZE = 64


def _lrelu(x):
    return F.leaky_relu(x, negative_slope=0.1)


def upsample_x4(x):
    """The bilinear x4 image every output frame is a residual on (nn.Upsample, align_corners=False)."""
    return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)


def check_frame_size(h: int, w: int) -> None:
    if h < MIN_FLOW_SIZE or w < MIN_FLOW_SIZE:
        raise ValueError(f"frames must be at least {MIN_FLOW_SIZE}x{MIN_FLOW_SIZE} for optical flow, got {h}x{w}")


# ---------------------------------------------------------------- flow


def flow_warp(x, flow, padding_mode: str = "zeros"):
    """Sample `x` [N, C, H, W] at each pixel plus `flow` [N, 2, H, W] (dx, dy in pixels), bilinearly."""
    _, _, h, w = x.shape
    if x.stop_gradient and not flow.stop_gradient:
        # Paddle's CPU grid_sample backward crashes (segfault) when the grid needs a gradient and the
        # sampled tensor does not (SPyNet warping its input frames in training): sample a copy that does.
        x = x.clone()
        x.stop_gradient = False
    grid_y, grid_x = paddle.meshgrid(paddle.arange(h, dtype="float32"), paddle.arange(w, dtype="float32"))
    # Same expression order as PaddleGAN's flow_warp, to the last float32 rounding.
    sample_x = 2.0 * (grid_x + flow[:, 0]) / max(w - 1, 1) - 1.0
    sample_y = 2.0 * (grid_y + flow[:, 1]) / max(h - 1, 1) - 1.0
    grid = paddle.stack([sample_x, sample_y], axis=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def flow_to_offsets(flow, taps: int):
    """A flow (dx, dy) as DeformConv2D offsets: (dy, dx) repeated for `taps` sampling points."""
    return paddle.flip(flow, [1]).tile([1, taps, 1, 1])


class FlowPyramid(nn.Layer):
    """SPyNet's coarse-to-fine flow estimation; subclasses provide ``refine(level, x)`` and ``levels``.

    Images are normalised with ImageNet statistics (buffers ``mean``/``std``, saved in checkpoints).
    """

    levels = 6

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", paddle.to_tensor([0.485, 0.456, 0.406], dtype="float32").reshape([1, 3, 1, 1]))
        self.register_buffer("std", paddle.to_tensor([0.229, 0.224, 0.225], dtype="float32").reshape([1, 3, 1, 1]))

    def refine(self, level: int, x):
        raise NotImplementedError

    def _coarse_to_fine(self, ref, supp):
        n, _, h, w = ref.shape
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(self.levels - 1):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2))
        scale = 2 ** (self.levels - 1)
        flow = paddle.zeros([n, 2, h // scale, w // scale], dtype=ref.dtype)
        for level, (r, s) in enumerate(zip(refs[::-1], supps[::-1])):
            if level:
                # Twice the size, so twice the pixel distances.
                flow = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(s, flow, padding_mode="border")
            flow = flow + self.refine(level, paddle.concat([r, warped, flow], axis=1))
        return flow

    def forward(self, ref, supp):
        """Flow from `ref` to `supp` [N, 2, H, W]: where each pixel of `ref` is found in `supp`."""
        h, w = ref.shape[2:]
        h_up, w_up = -(-h // 32) * 32, -(-w // 32) * 32
        if (h_up, w_up) == (h, w):
            return self._coarse_to_fine(ref, supp)
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self._coarse_to_fine(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        return paddle.concat([flow[:, :1] * (float(w) / w_up), flow[:, 1:] * (float(h) / h_up)], axis=1)


class SPyNetBasicModule(nn.Layer):
    """Five 7x7 convs (ReLU between) from [ref, warped supp, flow] (8 channels) to a flow correction."""

    def __init__(self):
        super().__init__()
        widths = [8, 32, 64, 32, 16, 2]
        for i, (cin, cout) in enumerate(zip(widths, widths[1:]), start=1):
            setattr(self, f"conv{i}", nn.Conv2D(cin, cout, 7, 1, 3))

    def forward(self, x):
        for i in range(1, 5):
            x = F.relu(getattr(self, f"conv{i}")(x))
        return self.conv5(x)


class SPyNet(FlowPyramid):
    """SPyNet with six pyramid levels, one basic module each (``basic_module0`` ... ``basic_module5``)."""

    def __init__(self):
        super().__init__()
        for level in range(self.levels):
            setattr(self, f"basic_module{level}", SPyNetBasicModule())

    def refine(self, level, x):
        return getattr(self, f"basic_module{level}")(x)


def bidirectional_flows(spynet, frames):
    """(forward, backward) flows of a clip [N, T, 3, H, W], each [N, T-1, 2, H, W] (None when T = 1).

    backward[:, i] goes from frame i to i+1 (it warps frame i+1's feature onto frame i);
    forward[:, i] from frame i+1 to i.
    """
    n, t, c, h, w = frames.shape
    if t < 2:
        return None, None
    earlier = frames[:, :-1].reshape([-1, c, h, w])
    later = frames[:, 1:].reshape([-1, c, h, w])
    backward = spynet(earlier, later).reshape([n, t - 1, 2, h, w])
    forward = spynet(later, earlier).reshape([n, t - 1, 2, h, w])
    return forward, backward


# ---------------------------------------------------------------- building blocks


class ResidualBlocksWithInputConv(nn.Layer):
    """3x3 conv + LeakyReLU(0.1) to `out_channels`, then `num_blocks` residual blocks."""

    def __init__(self, in_channels: int, out_channels: int = 64, num_blocks: int = 30):
        super().__init__()
        self.covn1 = nn.Conv2D(in_channels, out_channels, 3, 1, 1)  # PaddleGAN's spelling
        self.ResidualBlocks = named_blocks(num_blocks, out_channels)

    def forward(self, x):
        return self.ResidualBlocks(_lrelu(self.covn1(x)))


class PixelShufflePack(nn.Layer):
    """Conv to out*scale^2 channels, then pixel shuffle by `scale`."""

    def __init__(self, in_channels: int, out_channels: int, scale: int, kernel_size: int = 3):
        super().__init__()
        self.scale = scale
        self.upsample_conv = nn.Conv2D(in_channels, out_channels * scale * scale, kernel_size,
                                       padding=(kernel_size - 1) // 2)

    def forward(self, x):
        return F.pixel_shuffle(self.upsample_conv(x), self.scale)


def deformable_offset_head(in_channels: int, channels: int, deform_groups: int) -> nn.Sequential:
    """Three 3x3 conv + LeakyReLU layers, then a conv to 27 channels per deformable group
    (18 offsets and 9 mask logits per group). The last conv starts at zero, so training starts
    from offsets equal to the flow prior and a 0.5 mask."""
    zero = paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))
    return nn.Sequential(
        nn.Conv2D(in_channels, channels, 3, 1, 1),
        nn.LeakyReLU(0.1),
        nn.Conv2D(channels, channels, 3, 1, 1),
        nn.LeakyReLU(0.1),
        nn.Conv2D(channels, channels, 3, 1, 1),
        nn.LeakyReLU(0.1),
        nn.Conv2D(channels, 27 * deform_groups, 3, 1, 1, weight_attr=zero, bias_attr=zero),
    )


def offsets_and_mask(head_output):
    """Split an offset head's output into learned offsets (10 tanh: at most 10 px) and mask logits."""
    o1, o2, mask_logits = paddle.chunk(head_output, 3, axis=1)
    return 10 * paddle.tanh(paddle.concat([o1, o2], axis=1)), mask_logits


class SecondOrderDeformableAlignment(nn.Layer):
    """Deformable alignment of [feature one step back, feature two steps back] (2C channels) onto the current frame.

    The first half of the deformable groups (which read the first C channels) gets flow_1 as its
    offset prior, the second half flow_2.
    """

    def __init__(self, in_channels: int, channels: int, deform_groups: int = 16):
        super().__init__()
        self.conv_offset = deformable_offset_head(3 * channels + 4, channels, deform_groups)
        self.dcn = ModulatedDeformConv2D(in_channels, channels, 3, padding=1, deformable_groups=deform_groups)

    def forward(self, x, condition, flow_1, flow_2):
        learned, mask_logits = offsets_and_mask(self.conv_offset(paddle.concat([condition, flow_1, flow_2], axis=1)))
        offset_1, offset_2 = paddle.chunk(learned, 2, axis=1)
        taps = offset_1.shape[1] // 2
        offset = paddle.concat([offset_1 + flow_to_offsets(flow_1, taps), offset_2 + flow_to_offsets(flow_2, taps)], axis=1)
        return self.dcn(x, offset, F.sigmoid(mask_logits))


class _X4Head(nn.Layer):
    """Two pixel-shuffle x2 steps, conv_hr and conv_last: mid channels at 1x -> RGB residual at 4x.

    PaddleGAN fixes the 4x width (`hr_channels`) at 64 whatever the feature width; a smaller one
    only serves tiny test networks (the 4x convs dominate their cost).
    """

    def _build_head(self, mid_channels: int, hr_channels: int):
        self.upsample1 = PixelShufflePack(mid_channels, mid_channels, 2, 3)
        self.upsample2 = PixelShufflePack(mid_channels, hr_channels, 2, 3)
        self.conv_hr = nn.Conv2D(hr_channels, hr_channels, 3, 1, 1)
        self.conv_last = nn.Conv2D(hr_channels, 3, 3, 1, 1)

    def _to_image(self, feat, lr):
        out = _lrelu(self.upsample1(feat))
        out = _lrelu(self.upsample2(out))
        out = self.conv_last(_lrelu(self.conv_hr(out)))
        return out + upsample_x4(lr)


# ---------------------------------------------------------------- BasicVSR


class BasicVSRNet(_X4Head):
    def __init__(self, mid_channels: int = 64, num_blocks: int = 30, hr_channels: int = 64):
        super().__init__()
        self.mid_channels = mid_channels
        self.spynet = SPyNet()
        self.backward_resblocks = ResidualBlocksWithInputConv(mid_channels + 3, mid_channels, num_blocks)
        self.forward_resblocks = ResidualBlocksWithInputConv(mid_channels + 3, mid_channels, num_blocks)
        self.fusion = nn.Conv2D(2 * mid_channels, mid_channels, 1, 1, 0)
        self._build_head(mid_channels, hr_channels)

    def forward(self, lrs):
        n, t, _, h, w = lrs.shape
        check_frame_size(h, w)
        flows_forward, flows_backward = bidirectional_flows(self.spynet, lrs)

        backward = [None] * t
        feat = paddle.zeros([n, self.mid_channels, h, w], dtype=lrs.dtype)
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                feat = flow_warp(feat, flows_backward[:, i])
            feat = self.backward_resblocks(paddle.concat([lrs[:, i], feat], axis=1))
            backward[i] = feat

        outputs = []
        feat = paddle.zeros_like(feat)
        for i in range(t):
            if i > 0:
                feat = flow_warp(feat, flows_forward[:, i - 1])
            feat = self.forward_resblocks(paddle.concat([lrs[:, i], feat], axis=1))
            fused = _lrelu(self.fusion(paddle.concat([backward[i], feat], axis=1)))
            outputs.append(self._to_image(fused, lrs[:, i]))
        return paddle.stack(outputs, axis=1)


# ---------------------------------------------------------------- IconVSR


class IconVSR(_X4Head):
    """BasicVSR with information refill at keyframes (EDVR-M features) and coupled propagation."""

    def __init__(self, mid_channels: int = 64, num_blocks: int = 30, padding: int = 2, keyframe_stride: int = 5,
                 edvr_blocks: int = 5, hr_channels: int = 64):
        super().__init__()
        self.mid_channels = mid_channels
        self.padding = padding
        self.keyframe_stride = keyframe_stride
        self.spynet = SPyNet()
        self.edvr = EDVRFeatureExtractor(mid_channels, num_frames=2 * padding + 1, num_blocks_extraction=edvr_blocks,
                                         center_frame_idx=padding)
        self.backward_fusion = nn.Conv2D(2 * mid_channels, mid_channels, 3, 1, 1)
        self.forward_fusion = nn.Conv2D(2 * mid_channels, mid_channels, 3, 1, 1)
        self.backward_resblocks = ResidualBlocksWithInputConv(mid_channels + 3, mid_channels, num_blocks)
        self.forward_resblocks = ResidualBlocksWithInputConv(2 * mid_channels + 3, mid_channels, num_blocks)
        self._build_head(mid_channels, hr_channels)

    def _refill_features(self, lrs, keyframes):
        """EDVR feature of the 2p+1 frames around each keyframe; the clip is extended at both ends by
        reflection about its 2nd and 2nd-to-last frames (frames 4, 3 | clip | -4, -5 for p = 2)."""
        p = self.padding
        head = [lrs[:, i : i + 1] for i in range(2 * p, p, -1)]
        tail = [lrs[:, i : i + 1] for i in range(-(p + 2), -(2 * p + 2), -1)]
        extended = paddle.concat(head + [lrs] + tail, axis=1)
        return {i: self.edvr(extended[:, i : i + 2 * p + 1]) for i in keyframes}

    def forward(self, lrs):
        n, t, c, h_in, w_in = lrs.shape
        check_frame_size(h_in, w_in)
        if t < 2 * self.padding + 1:
            raise ValueError(f"IconVSR needs at least {2 * self.padding + 1} frames, got {t}")
        # EDVR's pyramid needs multiples of 4: reflect-pad, and crop the output back.
        pad_h, pad_w = -h_in % 4, -w_in % 4
        if pad_h or pad_w:
            lrs = F.pad(lrs.reshape([-1, c, h_in, w_in]), [0, pad_w, 0, pad_h], mode="reflect")
            lrs = lrs.reshape([n, t, c, h_in + pad_h, w_in + pad_w])
        h, w = h_in + pad_h, w_in + pad_w

        keyframes = list(range(0, t, self.keyframe_stride))
        if keyframes[-1] != t - 1:
            keyframes.append(t - 1)
        flows_forward, flows_backward = bidirectional_flows(self.spynet, lrs)
        refill = self._refill_features(lrs, keyframes)

        backward = [None] * t
        feat = paddle.zeros([n, self.mid_channels, h, w], dtype=lrs.dtype)
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                feat = flow_warp(feat, flows_backward[:, i])
            if i in refill:
                feat = self.backward_fusion(paddle.concat([feat, refill[i]], axis=1))
            feat = self.backward_resblocks(paddle.concat([lrs[:, i], feat], axis=1))
            backward[i] = feat

        outputs = []
        feat = paddle.zeros_like(feat)
        for i in range(t):
            if i > 0:
                feat = flow_warp(feat, flows_forward[:, i - 1])
            if i in refill:
                feat = self.forward_fusion(paddle.concat([feat, refill[i]], axis=1))
            feat = self.forward_resblocks(paddle.concat([lrs[:, i], backward[i], feat], axis=1))
            outputs.append(self._to_image(feat, lrs[:, i]))
        out = paddle.stack(outputs, axis=1)
        return out[:, :, :, : 4 * h_in, : 4 * w_in] if pad_h or pad_w else out


# ---------------------------------------------------------------- BasicVSR++

_PLUS_PLUS_BRANCHES = (("backward_1", True), ("forward_1", False), ("backward_2", True), ("forward_2", False))


class BasicVSRPlusPlus(_X4Head):
    """BasicVSR++ for low-resolution input (x4)."""

    def __init__(self, mid_channels: int = 64, num_blocks: int = 7, extract_blocks: int = 5,
                 reconstruction_blocks: int = 5, deform_groups: int = 16, hr_channels: int = 64):
        super().__init__()
        self.mid_channels = mid_channels
        self.spynet = SPyNet()
        self.feat_extract = ResidualBlocksWithInputConv(3, mid_channels, extract_blocks)
        for k, (name, _) in enumerate(_PLUS_PLUS_BRANCHES):
            setattr(self, f"deform_align_{name}",
                    SecondOrderDeformableAlignment(2 * mid_channels, mid_channels, deform_groups))
            # Each branch sees the frame's feature, every earlier branch's, and its own hidden state.
            setattr(self, f"backbone_{name}", ResidualBlocksWithInputConv((2 + k) * mid_channels, mid_channels, num_blocks))
        self.reconstruction = ResidualBlocksWithInputConv(5 * mid_channels, mid_channels, reconstruction_blocks)
        self._build_head(mid_channels, hr_channels)

    def _propagate(self, name, backward, spatial, branches, flows):
        align = getattr(self, f"deform_align_{name}")
        backbone = getattr(self, f"backbone_{name}")
        t = len(spatial)
        frames = list(range(t - 1, -1, -1)) if backward else list(range(t))

        def flow_into(frame):
            # The flow that brings the previously visited frame's feature onto `frame`.
            return flows[:, frame] if backward else flows[:, frame - 1]

        history = []
        feat_prop = paddle.zeros_like(spatial[0])
        for step, frame in enumerate(frames):
            current = spatial[frame]
            if step > 0:
                flow_n1 = flow_into(frame)
                cond_n1 = flow_warp(feat_prop, flow_n1)
                if step > 1:
                    feat_n2 = history[-2]
                    # Two steps back: compose the previous step's flow with this one.
                    flow_n2 = flow_n1 + flow_warp(flow_into(frames[step - 1]), flow_n1)
                    cond_n2 = flow_warp(feat_n2, flow_n2)
                else:
                    feat_n2, flow_n2 = paddle.zeros_like(feat_prop), paddle.zeros_like(flow_n1)
                    cond_n2 = paddle.zeros_like(cond_n1)
                condition = paddle.concat([cond_n1, current, cond_n2], axis=1)
                feat_prop = align(paddle.concat([feat_prop, feat_n2], axis=1), condition, flow_n1, flow_n2)
            feat = paddle.concat([current] + [b[frame] for b in branches.values()] + [feat_prop], axis=1)
            feat_prop = feat_prop + backbone(feat)
            history.append(feat_prop)
        return history[::-1] if backward else history

    def forward(self, lqs):
        n, t, c, h, w = lqs.shape
        check_frame_size(h, w)
        spatial = self.feat_extract(lqs.reshape([-1, c, h, w])).reshape([n, t, -1, h, w])
        spatial = [spatial[:, i] for i in range(t)]
        flows_forward, flows_backward = bidirectional_flows(self.spynet, lqs)

        branches = {}
        for name, backward in _PLUS_PLUS_BRANCHES:
            branches[name] = self._propagate(name, backward, spatial, branches,
                                             flows_backward if backward else flows_forward)

        outputs = []
        for i in range(t):
            feat = paddle.concat([spatial[i]] + [b[i] for b in branches.values()], axis=1)
            outputs.append(self._to_image(self.reconstruction(feat), lqs[:, i]))
        return paddle.stack(outputs, axis=1)


# ---------------------------------------------------------------- long clips


def upscale_in_chunks(net, frames: Iterable, chunk: int = 30, overlap: int = 5) -> Iterator[np.ndarray]:
    """Upscale a stream of frames [3, H, W] with a clip network, `chunk` frames at a time; yield frames in order.

    Windows of `chunk` frames overlap by 2 * `overlap`: from each window only the frames at least
    `overlap` frames from an inner edge are kept (the first window keeps its head, the last its
    tail), so every kept frame has at least `overlap` frames of context on both sides where the
    clip has them. A bidirectional recurrent network's output depends on every frame of its
    window, so this is an approximation of the whole-clip output that tightens as `overlap`
    grows. At most `chunk` low-resolution frames and one window's output are held at a time.
    """
    if overlap < 0 or chunk <= 2 * overlap:
        raise ValueError(f"chunk ({chunk}) must be larger than twice the overlap ({overlap})")
    step = chunk - 2 * overlap
    window = deque(maxlen=chunk)
    received = emitted = 0
    last_output, last_end = None, -1

    def run():
        clip = paddle.to_tensor(np.stack([np.asarray(f, dtype="float32") for f in window])[None])
        with paddle.no_grad():
            out = net(clip)
        return out.numpy()[0]

    for frame in frames:
        window.append(frame)
        received += 1
        if received >= chunk and (received - chunk) % step == 0:
            start = received - chunk
            last_output, last_end = run(), received
            keep_to = chunk - overlap
            yield from last_output[emitted - start : keep_to]
            emitted = start + keep_to
    if emitted < received:
        out = last_output if last_end == received else run()
        yield from out[emitted - (received - len(window)) :]


# ---------------------------------------------------------------- registration


@architecture(
    "basicvsr",
    "BasicVSR x4 video super-resolution: bidirectional recurrence with SPyNet flow warping",
    default_weights="basicvsr.reds_x4",
    configurations={"basicvsr_reds_x4": ({"mid_channels": 64, "num_blocks": 30}, "basicvsr.reds_x4")},
)
def basicvsr(mid_channels=64, num_blocks=30, hr_channels=64):
    return BasicVSRNet(mid_channels=mid_channels, num_blocks=num_blocks, hr_channels=hr_channels)


@architecture(
    "iconvsr",
    "IconVSR x4 video super-resolution: BasicVSR with EDVR-M information refill and coupled propagation",
    default_weights="iconvsr.reds_x4",
    configurations={"iconvsr_reds_x4": ({"mid_channels": 64, "num_blocks": 30}, "iconvsr.reds_x4")},
)
def iconvsr(mid_channels=64, num_blocks=30, padding=2, keyframe_stride=5, edvr_blocks=5, hr_channels=64):
    return IconVSR(mid_channels=mid_channels, num_blocks=num_blocks, padding=padding, keyframe_stride=keyframe_stride,
                   edvr_blocks=edvr_blocks, hr_channels=hr_channels)


@architecture(
    "basicvsrpp",
    "BasicVSR++ x4 video super-resolution: second-order grid propagation with flow-guided deformable alignment",
    default_weights="basicvsrpp.reds_x4",
    configurations={"basicvsrpp_reds_x4": ({"mid_channels": 64, "num_blocks": 7}, "basicvsrpp.reds_x4")},
)
def basicvsrpp(mid_channels=64, num_blocks=7, extract_blocks=5, reconstruction_blocks=5, deform_groups=16,
               hr_channels=64):
    return BasicVSRPlusPlus(mid_channels=mid_channels, num_blocks=num_blocks, extract_blocks=extract_blocks,
                            reconstruction_blocks=reconstruction_blocks, deform_groups=deform_groups, hr_channels=hr_channels)
