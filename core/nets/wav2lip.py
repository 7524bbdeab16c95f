"""Wav2Lip: the lip-sync generator (Prajwal et al., ACM Multimedia 2020), in PaddleGAN's parameter layout.

Given a face and a short window of speech, Wav2Lip repaints the lower half of the face so that the
mouth speaks that window. This file is weight-compatible with PaddleGAN's published checkpoint
(``wav2lip_hq.pdparams``, a flat state dict of ``ppgan.models.generators.Wav2Lip``).

Inputs, per generated frame:

- ``audio_sequences`` [B, 1, 80, 16]: a mel spectrogram window, 80 mel bands (``NUM_MELS``) by 16
  mel frames (``MEL_STEPS``, 0.2 s: the mel runs at 80 frames per second, so the window of video
  frame i starts at mel frame ``int(i * 80 / fps)``);
- ``face_sequences`` [B, 6, 96, 96]: two 96x96 face crops stacked on the channels, in [0, 1]: the
  frame to repaint with its lower half zeroed (rows 48..95), then a reference frame of the same
  person (at inference the same frame, unmasked), both **BGR** as the network was trained on OpenCV
  frames (``to_network_input`` builds this from uint8 crops);

and the output is [B, 3, 96, 96], BGR in [0, 1] (a sigmoid; ``to_image`` turns it into uint8).

The network, every block a convolution (with bias), a batch norm and a ReLU (``ConvNormBlock``;
a *residual* block keeps the size and adds its input before the ReLU):

- face encoder, seven stages, each kept for the decoder: 6->16 (7x7) at 96; then 3x3 stride-2
  stages to 48 (32 channels), 24 (64), 12 (128), 6 (256), 3 (512), each followed by 1 to 3
  residual blocks; then a 3x3 convolution without padding (3 -> 1) and a 1x1 one, 512 channels;
- audio encoder: [1, 80, 16] -> 32 channels, then strides (3, 1) -> 64 at 27x16, 3 -> 128 at 9x6,
  (3, 2) -> 256 at 3x3 (residual blocks between), a 3x3 convolution without padding to 512 at 1x1
  and a 1x1 one: the audio embedding [B, 512, 1, 1];
- decoder, from the audio embedding: a 1x1 block, then six stages that each begin with a transposed
  convolution (+ batch norm + ReLU, no residual; the first 3x3 stride 1 without padding, 1 -> 3,
  the others stride 2, 3 -> 6 -> ... -> 96) followed by residual blocks. After every decoder stage
  (the first 1x1 block included) the face encoder's feature map of the same size is concatenated on
  the channels, the deepest first (1x1 512 + 512, 3x3 512 + 512, 6x6 512 + 256, ... 96x96 64 + 16);
- output: a 3x3 block 80 -> 32, a 1x1 convolution 32 -> 3 with bias, a sigmoid.

``forward`` also takes whole sequences, as PaddleGAN's (and the original) training does: audio
[B, T, 1, 80, 16] with faces [B, 6, T, 96, 96] (time on axis 2 of the faces) give [B, 3, T, 96, 96];
the T windows are folded into the batch, which the network handles one sample at a time.

Licence: the weights are for personal, research and non-commercial use only. Wav2Lip's authors
release their code and models for personal/research/non-commercial purposes and forbid commercial
use of models trained on LRS2 (the BBC's lip-reading data set, itself for non-commercial research);
PaddleGAN's port (Apache-2.0 code) trained on LRS2 and keeps the warning in its files.
"""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from core.registry import architecture

IMAGE_SIZE = 96  # face crops are resized to IMAGE_SIZE x IMAGE_SIZE
NUM_MELS = 80  # mel bands of the spectrogram
MEL_STEPS = 16  # mel frames in the window that drives one video frame (0.2 s)
MEL_FRAMES_PER_SECOND = 80  # 16 kHz audio, hop of 200 samples: window i starts at int(i * 80 / fps)
FACE_CHANNELS = 6  # masked frame (3, BGR) then reference frame (3, BGR)

# Face encoder stages after the first (6 -> 16, 7x7): (out channels, residual blocks), each
# opening with a 3x3 stride-2 block. The last stage (3x3 unpadded, then 1x1) is built apart.
FACE_DOWN_STAGES = ((32, 2), (64, 3), (128, 2), (256, 2), (512, 1))
# Audio encoder: (out channels, stride of the opening 3x3 block, residual blocks after it).
AUDIO_STAGES = ((32, 1, 2), (64, (3, 1), 2), (128, 3, 2), (256, (3, 2), 1))
# Decoder stages after the first 1x1 block: (out channels, transposed stride, padding, output
# padding, residual blocks). Each takes the previous output with its skip (a face feature) joined.
DECODER_STAGES = (
    (512, 1, 0, 0, 1),
    (512, 2, 1, 1, 2),
    (384, 2, 1, 1, 2),
    (256, 2, 1, 1, 2),
    (128, 2, 1, 1, 2),
    (64, 2, 1, 1, 2),
)
EMBEDDING = 512  # channels of the audio embedding and of the deepest face feature


class ConvNormBlock(nn.Layer):
    """Convolution (with bias) -> BatchNorm2D -> ReLU; `residual` adds the input before the ReLU.

    The convolution and the norm sit in ``conv_block`` (indices 0 and 1), as in PaddleGAN's
    checkpoints. `transpose` makes the convolution a ``Conv2DTranspose`` (weight [in, out, k, k]).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride=1, padding: int = 1,
                 residual: bool = False, transpose: bool = False, output_padding: int = 0):
        super().__init__()
        if residual and (in_channels != out_channels or stride != 1 or transpose):
            raise ValueError("a residual block keeps its channels and size")
        if transpose:
            conv = nn.Conv2DTranspose(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                      output_padding=output_padding)
        else:
            conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.conv_block = nn.Sequential(conv, nn.BatchNorm2D(out_channels))
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return F.relu(out)


def _residuals(channels: int, count: int) -> list:
    return [ConvNormBlock(channels, channels, 3, residual=True) for _ in range(count)]


class Wav2Lip(nn.Layer):
    """Wav2Lip generator: (mel [B, 1, 80, 16], faces [B, 6, 96, 96]) -> faces [B, 3, 96, 96] in [0, 1].

    Channels are BGR in and out (see the module's docstring and ``to_network_input``).
    """

    def __init__(self, width: float = 1.0):
        super().__init__()

        def scaled(channels: int) -> int:  # width < 1: the same layers with fewer channels (tests, benchmarks)
            return max(1, int(round(channels * width)))

        embedding = scaled(EMBEDDING)
        face_channels = [scaled(16)]
        face_stages = [nn.Sequential(ConvNormBlock(FACE_CHANNELS, face_channels[0], 7, padding=3))]
        for out_channels, residual_count in FACE_DOWN_STAGES:
            out_channels = scaled(out_channels)
            face_stages.append(nn.Sequential(ConvNormBlock(face_channels[-1], out_channels, 3, stride=2),
                                             *_residuals(out_channels, residual_count)))
            face_channels.append(out_channels)
        face_stages.append(nn.Sequential(ConvNormBlock(face_channels[-1], embedding, 3, padding=0),
                                         ConvNormBlock(embedding, embedding, 1, padding=0)))
        face_channels.append(embedding)
        self.face_encoder_blocks = nn.LayerList(face_stages)

        audio_blocks, channels = [], 1
        for out_channels, stride, residual_count in AUDIO_STAGES:
            out_channels = scaled(out_channels)
            audio_blocks.append(ConvNormBlock(channels, out_channels, 3, stride=stride))
            audio_blocks.extend(_residuals(out_channels, residual_count))
            channels = out_channels
        audio_blocks.append(ConvNormBlock(channels, embedding, 3, padding=0))
        audio_blocks.append(ConvNormBlock(embedding, embedding, 1, padding=0))
        self.audio_encoder = nn.Sequential(*audio_blocks)

        decoder_stages = [nn.Sequential(ConvNormBlock(embedding, embedding, 1, padding=0))]
        skips = face_channels[::-1]  # the decoder meets the face features deepest first
        channels = embedding + skips[0]
        for skip, (out_channels, stride, padding, output_padding, residual_count) in zip(skips[1:], DECODER_STAGES):
            out_channels = scaled(out_channels)
            up = ConvNormBlock(channels, out_channels, 3, stride=stride, padding=padding, transpose=True,
                               output_padding=output_padding)
            decoder_stages.append(nn.Sequential(up, *_residuals(out_channels, residual_count)))
            channels = out_channels + skip
        self.face_decoder_blocks = nn.LayerList(decoder_stages)
        self.output_block = nn.Sequential(ConvNormBlock(channels, scaled(32), 3), nn.Conv2D(scaled(32), 3, 1),
                                          nn.Sigmoid())

    def forward(self, audio_sequences, face_sequences):
        sequence = len(face_sequences.shape) == 5
        if sequence:
            # audio [B, T, 1, 80, 16], faces [B, C, T, H, W]: T folded into the batch (b * T + t).
            steps = face_sequences.shape[2]
            audio_sequences = audio_sequences.reshape([-1, *audio_sequences.shape[2:]])
            face_sequences = face_sequences.transpose([0, 2, 1, 3, 4])
            face_sequences = face_sequences.reshape([-1, *face_sequences.shape[2:]])

        features = []
        x = face_sequences
        for stage in self.face_encoder_blocks:
            x = stage(x)
            features.append(x)

        x = self.audio_encoder(audio_sequences)
        for stage, skip in zip(self.face_decoder_blocks, reversed(features)):
            x = paddle.concat([stage(x), skip], axis=1)
        x = self.output_block(x)

        if sequence:
            x = x.reshape([-1, steps, *x.shape[1:]]).transpose([0, 2, 1, 3, 4])
        return x


@architecture(
    "wav2lip",
    "Wav2Lip lip-sync generator: a mel window and a half-masked face -> the face speaking it (PaddleGAN layout)",
    default_weights="wav2lip.hq",
    configurations={"wav2lip_hq": ({}, "wav2lip.hq")},
)
def wav2lip(width: float = 1.0):
    """Wav2Lip; the published weights need width 1 (a narrower one keeps every layer and name)."""
    return Wav2Lip(width=width)


# ==================================================================================== helpers
# Plain numpy around the network.


def to_network_input(faces: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Face crops [B, 96, 96, 3] (uint8 0..255, **BGR**) -> the network's faces [B, 6, 96, 96] float32.

    Channels 0..2: the crops with their lower half (rows 48..95) zeroed, the part Wav2Lip paints;
    channels 3..5: `reference` (the pose and identity to keep; by default the crops themselves, as
    at inference), unmasked. Both divided by 255, NCHW. The network was trained on OpenCV (BGR)
    frames: callers holding RGB frames flip the channels (``faces[..., ::-1]``) before, and flip
    ``to_image``'s result back after.
    """
    faces = _crops(faces, "faces")
    reference = faces if reference is None else _crops(reference, "reference")
    if reference.shape != faces.shape:
        raise ValueError(f"reference {reference.shape} and faces {faces.shape} differ in shape")
    masked = faces.astype(np.float32)
    masked[:, IMAGE_SIZE // 2:] = 0.0
    stacked = np.concatenate([masked, reference.astype(np.float32)], axis=3) / np.float32(255.0)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))


def to_image(output) -> np.ndarray:
    """The network's output [B, 3, 96, 96] in [0, 1] (array or tensor) -> uint8 [B, 96, 96, 3], BGR.

    Times 255, rounded, clipped to 0..255, NHWC. (PaddleGAN's predictor truncates instead of
    rounding, so its pixels are up to one level darker.)
    """
    array = np.asarray(output.numpy() if hasattr(output, "numpy") else output, dtype=np.float32)
    if array.ndim != 4 or array.shape[1] != 3:
        raise ValueError(f"Wav2Lip's output is [B, 3, H, W], got an array of shape {array.shape}")
    pixels = np.clip(np.rint(array * np.float32(255.0)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(0, 2, 3, 1))


def _crops(array, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 4 or array.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"{what}: Wav2Lip takes face crops [B, {IMAGE_SIZE}, {IMAGE_SIZE}, 3], "
                         f"got an array of shape {array.shape}")
    return array
