"""Speech for lip sync (Wav2Lip): decoding, the network's mel spectrogram, frame windows, text-to-speech.

Wav2Lip was trained on the mel spectrogram of PaddleGAN's ``ppgan/utils/audio.py`` (itself from the
original Wav2Lip): 16 kHz mono, pre-emphasis 0.97, an 800-point Hann STFT every 200 samples, centred
with *reflect* padding, 80 Slaney mel bands from 55 to 7600 Hz, decibels floored at -100 dB less a
20 dB reference, scaled symmetrically into [-4, 4]. ``melspectrogram`` computes exactly that with
librosa. PaddleGAN pinned librosa 0.8.1, whose ``stft`` padded by reflection; since 0.9 it pads with
zeros by default, so the padding is named here (it changes the first and last two columns).

A video at ``fps`` frames a second gets one window of 16 mel columns (0.2 s; 80 columns make a
second) per output frame, starting at column ``int(i * 80 / fps)``; the last window is the final 16
columns (``mel_windows``; ``frame_count`` gives their number from the length of the sound alone).

``load_speech`` decodes an upload through ``core.media.read_audio`` (whitelisted demuxers, length
limits checked while decoding) and refuses sound too short for one window or too quiet to be speech.
``speak`` turns typed text into a WAV file with the ``espeak-ng`` program when it is installed.

librosa and scipy are imported by the functions that need them, so importing this module stays cheap.

Public API:
    SAMPLE_RATE, MEL_STEP, MIN_SPEECH_SECONDS, SILENCE_DBFS, MAX_TEXT_CHARS,
    melspectrogram, mel_windows, frame_count, load_speech, speak, espeak_available,
    TextToSpeechUnavailable.
"""
from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Union

import numpy as np

from core import media
from core.errors import GalleryError, InputError, LimitExceeded

PathLike = Union[str, os.PathLike]

SAMPLE_RATE = 16000
# The STFT and mel bank of PaddleGAN's audio configuration.
N_FFT = 800
HOP_LENGTH = 200
WIN_LENGTH = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
MEL_COLUMNS_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  # 80
# Mel columns the network hears per output frame (0.2 s).
MEL_STEP = 16
# One window of MEL_STEP columns needs 1 + n // 200 >= 16 columns, i.e. 3000 samples (0.1875 s);
# rounded up to the window's own 0.2 s.
MIN_SPEECH_SECONDS = 0.2
# Sound whose loudest MIN_SPEECH_SECONDS stay below this RMS level is refused as silence. The mel
# spectrogram has an absolute scale, 0.8 of its 8 units per 10 dB: a tone at -80 to -90 dBFS lies on
# its floor (-4) and a full-scale one reaches +2 to +3, while a -50 dBFS stretch reaches only -1.7
# to -0.7, the lower third, about the background of a quiet room; speech recorded at a normal level
# is -30 to -15 dBFS.
SILENCE_DBFS = -50.0
# Longest text speak() accepts: about half a minute of speech at espeak-ng's default rate.
MAX_TEXT_CHARS = 500
_TTS_TIMEOUT_S = 60
# espeak-ng voice names: "en", "en-us", "en+f3", "gmw/en"; never a leading "-" (an option).
_VOICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/-]{0,63}")


class TextToSpeechUnavailable(GalleryError):
    """Text-to-speech is not installed on this server, or the program failed."""


# ----------------------------------------------------------------------------- mel spectrogram


@functools.lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    # Slaney mel scale and area normalisation (librosa's defaults), float32 as PaddleGAN had it.
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's mel spectrogram of 16 kHz mono samples: ``float32`` (80, 1 + len(wav) // 200) in [-4, 4].

    Raises ValueError for anything but a 1-D array of at least 800 finite samples (0.05 s).
    """
    import librosa
    from scipy.signal import lfilter

    wav = np.asarray(wav)
    if wav.ndim != 1:
        raise ValueError(f"melspectrogram needs mono samples (a 1-D array), got shape {wav.shape}")
    if wav.size < N_FFT:
        raise ValueError(f"melspectrogram needs at least {N_FFT} samples, got {wav.size}")
    wav = wav.astype(np.float64)
    if not np.all(np.isfinite(wav)):
        raise ValueError("melspectrogram needs finite samples; the sound holds NaN or infinity")
    emphasised = lfilter([1.0, -PREEMPHASIS], [1.0], wav)
    spectrum = np.abs(librosa.stft(emphasised, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH,
                                   window="hann", center=True, pad_mode="reflect"))
    mel = _mel_basis() @ spectrum
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    decibels = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS_VALUE * (decibels - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


# ----------------------------------------------------------------------------- frame windows


def _window_starts(columns: int, fps) -> np.ndarray:
    """First mel column of each output frame's window: int(i * 80 / fps) while the window fits, then
    the start of the last MEL_STEP columns. mel_windows and frame_count both count these."""
    rate = float(fps)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"the frame rate must be a positive number, got {fps!r}")
    if columns < MEL_STEP:
        raise ValueError(f"a mel spectrogram of {columns} columns is shorter than one window of {MEL_STEP}")
    step = MEL_COLUMNS_PER_SECOND / rate
    last = columns - MEL_STEP  # the latest start that still fits

    def start(i: int) -> int:
        return int(i * step)

    # Full windows: the i >= 0 with start(i) <= last (start never decreases); estimate, then settle
    # on the exact count with the same expression the windows use.
    full = int(last / step) + 1
    while full > 0 and start(full - 1) > last:
        full -= 1
    while start(full) <= last:
        full += 1
    starts = (np.arange(full, dtype=np.float64) * step).astype(np.int64)  # the same products, truncated
    return np.append(starts, last)


def frame_count(num_samples: int, fps) -> int:
    """How many output frames (mel windows) ``num_samples`` of 16 kHz sound make at ``fps``."""
    if num_samples < 0:
        raise ValueError(f"num_samples must not be negative, got {num_samples}")
    return len(_window_starts(1 + int(num_samples) // HOP_LENGTH, fps))


def mel_windows(mel: np.ndarray, fps) -> np.ndarray:
    """The window of 16 mel columns for each output frame at ``fps``: (frame_count, 80, 16), mel's dtype."""
    mel = np.asarray(mel)
    if mel.ndim != 2:
        raise ValueError(f"mel_windows needs a (bands, columns) spectrogram, got shape {mel.shape}")
    starts = _window_starts(mel.shape[1], fps)
    return mel[:, starts[:, None] + np.arange(MEL_STEP)].transpose(1, 0, 2).copy()


# ----------------------------------------------------------------------------- speech files


def _seconds_text(seconds: float) -> str:
    # Rounded down, so a sound just short of a limit never reads as the limit itself.
    return f"{math.floor(seconds * 100) / 100:.2f}".rstrip("0").rstrip(".")


def loudest_dbfs(samples: np.ndarray, seconds: float = MIN_SPEECH_SECONDS) -> float:
    """RMS level in dBFS of the loudest ``seconds`` of 16 kHz samples (the whole sound when shorter);
    -inf for digital silence."""
    power = np.square(np.asarray(samples, dtype=np.float64))
    width = max(1, min(power.size, int(round(seconds * SAMPLE_RATE))))
    sums = np.concatenate(([0.0], np.cumsum(power)))
    peak = max(0.0, float(np.max(sums[width:] - sums[:-width]))) / width
    return 10.0 * math.log10(peak) if peak > 0 else -math.inf


def load_speech(path: PathLike, max_seconds: Optional[float]) -> np.ndarray:
    """Decode speech from an audio or video file into 16 kHz mono ``float32`` samples in [-1, 1].

    Any container and sample rate ffmpeg reads (through ``core.media.read_audio``, which refuses
    non-audio, a missing audio track and sound over ``max_seconds``). Refuses (``InputError``) sound
    shorter than MIN_SPEECH_SECONDS, sound holding NaN or infinity, and silence: sound whose loudest
    MIN_SPEECH_SECONDS stay below SILENCE_DBFS.
    """
    path = Path(path)
    name = f"The audio {path.name}"
    samples = media.read_audio(path, sample_rate=SAMPLE_RATE, max_seconds=max_seconds)
    seconds = samples.size / SAMPLE_RATE
    if seconds < MIN_SPEECH_SECONDS:
        raise InputError(f"{name} is {_seconds_text(seconds)} seconds long; "
                         f"at least {MIN_SPEECH_SECONDS:g} seconds are needed.")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{name} holds invalid samples (not-a-number or infinite values); it isn't usable sound.")
    level = loudest_dbfs(samples)
    if level == -math.inf:
        raise InputError(f"{name} is silent (every sample is zero); lip sync needs speech "
                         f"louder than {SILENCE_DBFS:g} dBFS.")
    if level < SILENCE_DBFS:
        raise InputError(f"{name} is silent or nearly: its loudest {MIN_SPEECH_SECONDS:g} seconds are at "
                         f"{level:.0f} dBFS; lip sync needs speech louder than {SILENCE_DBFS:g} dBFS.")
    return samples


# ----------------------------------------------------------------------------- text-to-speech


def _espeak_exe() -> Optional[str]:
    return shutil.which("espeak-ng")


def require_espeak() -> str:
    """The espeak-ng program's path; ``TextToSpeechUnavailable`` with what to do when it isn't installed."""
    exe = _espeak_exe()
    if exe is None:
        raise TextToSpeechUnavailable("Text-to-speech needs the espeak-ng program, which isn't installed on "
                                      "this server (Debian package espeak-ng); upload a recording instead.")
    return exe


def espeak_available() -> bool:
    """Whether the espeak-ng program is installed (on PATH), so ``speak`` can work."""
    return _espeak_exe() is not None


def checked_text(text: str) -> str:
    """The text to speak, stripped; refused when empty (``InputError``) or over MAX_TEXT_CHARS (``LimitExceeded``).
    Cheap: a server checks it before any work is queued."""
    words = text.strip()
    if not words:
        raise InputError("The text to speak is empty; type what the face should say.")
    if len(words) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"The text to speak is {len(words)} characters long; "
                            f"the limit is {MAX_TEXT_CHARS} characters.")
    return words


def speak(text: str, path: PathLike, voice: Optional[str] = None) -> Path:
    """Say ``text`` with espeak-ng into the WAV file ``path`` (espeak-ng's 22,050 Hz mono); returns it.

    Refuses (``InputError``) empty text, an unknown or malformed ``voice`` ("en", "en-us", "fr",
    ...), and (``LimitExceeded``) text over MAX_TEXT_CHARS characters. The text reaches espeak-ng on
    its standard input, never as an argument, so no text is read as an option; SSML is not enabled,
    so markup is read as text. Raises ``TextToSpeechUnavailable`` when espeak-ng is not installed
    or fails.
    """
    if not isinstance(text, str):
        raise TypeError(f"speak takes the text as a str, not {type(text).__name__}")
    words = checked_text(text)
    if voice is not None and not _VOICE_NAME.fullmatch(voice):
        raise InputError(f"The voice {voice!r} isn't an espeak-ng voice name (like en, en-us or fr).")
    exe = require_espeak()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # so a failed run can't leave an older file looking like its output
    # An absolute path can't be read as an option; -b 1: the text is UTF-8 whatever the locale.
    command = [exe, "-b", "1", "-w", os.path.abspath(path)]
    if voice is not None:
        command += ["-v", voice]
    command.append("--stdin")
    try:
        result = subprocess.run(command, input=words.encode("utf-8", "replace"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=_TTS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise TextToSpeechUnavailable(f"espeak-ng took longer than {_TTS_TIMEOUT_S} seconds to speak the text.") from None
    message = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    if voice is not None and "voice does not exist" in message:
        raise InputError(f"The voice {voice!r} isn't one of espeak-ng's voices (like en, en-us or fr).")
    if result.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:  # 44: a bare WAV header
        reason = message.splitlines()[-1] if message else f"exit status {result.returncode}"
        raise TextToSpeechUnavailable(f"espeak-ng could not speak the text ({reason[:200]}).")
    return path
