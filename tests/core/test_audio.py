"""core.audio: Wav2Lip's mel spectrogram against an independent numpy reference, the frame windows,
speech uploads, and text-to-speech with espeak-ng. Every input is generated here."""
import math
import shutil
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from scipy.io import wavfile

from core import audio
from core.errors import InputError, LimitExceeded
from tests.clips import ffmpeg, make_clip

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
SENTENCE = "The quick brown fox jumps over the lazy dog."
# The reference below runs in float64; the module returns float32 through librosa's float32 mel bank,
# so the two agree to float32 rounding of values up to 4 (an ulp is 4.8e-7). Measured: about 1.2e-7.
TOLERANCE = 2e-6


# --- an independent reference: the formulas, in numpy ------------------------------------------


def slaney_mel(hz):
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic (27 mels per factor
    6.4) above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_part = 15.0 + 27.0 * np.log(np.maximum(hz, 1e-10) / 1000.0) / np.log(6.4)
    return np.where(hz >= 1000.0, log_part, hz * 3.0 / 200.0)


def slaney_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0), mel * 200.0 / 3.0)


def mel_bank(sr=16000, n_fft=800, bands=80, low=55.0, high=7600.0):
    """Triangles between bands + 2 points equally spaced in mel, each scaled to unit area (2 / width)."""
    edges = slaney_hz(np.linspace(slaney_mel(low), slaney_mel(high), bands + 2))
    bins = np.arange(n_fft // 2 + 1) * sr / n_fft
    bank = np.zeros((bands, bins.size))
    for band in range(bands):
        left, centre, right = edges[band:band + 3]
        rising = (bins - left) / (centre - left)
        falling = (right - bins) / (right - centre)
        bank[band] = np.maximum(0.0, np.minimum(rising, falling)) * 2.0 / (right - left)
    return bank


def magnitudes(wav, pad="reflect"):
    """|STFT|: centred frames of 800 every 200 samples (padded 400 each side), periodic Hann window."""
    padded = np.pad(wav, 400, mode=pad)
    count = 1 + wav.size // 200
    frames = np.stack([padded[t * 200:t * 200 + 800] for t in range(count)], axis=1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(800) / 800)
    return np.abs(np.fft.rfft(frames * window[:, None], axis=0))


def scaled_mel(spectrum):
    """Mel bank, decibels floored at -100 dB less 20 dB, then [-100, 0] dB onto [-4, 4], clipped."""
    decibels = 20 * np.log10(np.maximum(1e-5, mel_bank() @ spectrum)) - 20
    return np.clip(8 * (decibels + 100) / 100 - 4, -4, 4)


def reference_mel(wav, pad="reflect"):
    wav = np.asarray(wav, dtype=np.float64)
    emphasised = wav.copy()
    emphasised[1:] -= 0.97 * wav[:-1]
    return scaled_mel(magnitudes(emphasised, pad))


def reference_starts(columns, fps):
    """Wav2Lip's loop: windows at int(i * 80 / fps) while 16 columns fit, then the last 16 columns."""
    per_frame = 80.0 / float(fps)
    starts, i = [], 0
    while int(i * per_frame) + 16 <= columns:
        starts.append(int(i * per_frame))
        i += 1
    return starts + [columns - 16]


def two_tones(seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)


def write_wav(path, samples, rate=16000):
    wavfile.write(path, rate, np.asarray(samples, dtype=np.float32))
    return path


def tone(seconds, dbfs=-20.0, hz=440.0, rate=16000):
    """A sine whose RMS is ``dbfs``."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (math.sqrt(2) * 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


# --- the mel spectrogram -----------------------------------------------------------------------


def test_the_mel_bank_formula_is_librosas_slaney_bank():
    import librosa

    ours = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    assert np.abs(mel_bank() - ours).max() < 1e-6 * np.abs(ours).max()


@pytest.mark.slow
def test_mel_of_two_tones_matches_the_reference():
    wav = two_tones()
    mel = audio.melspectrogram(wav)
    assert mel.dtype == np.float32 and mel.shape == (80, 1 + wav.size // 200) == (80, 81)
    assert np.abs(mel - reference_mel(wav)).max() < TOLERANCE
    assert mel.min() >= -4 and mel.max() <= 4 and mel.max() > 1  # the tones are loud, the rest quiet
    # Sound shows in the bands around 440 Hz and 1 kHz only (their centres within 60 Hz of a tone).
    centres = slaney_hz(np.linspace(slaney_mel(55), slaney_mel(7600), 82))[1:-1]
    heard = centres[mel[:, 40] > -4]
    assert heard.size >= 4 and np.all(np.minimum(abs(heard - 440), abs(heard - 1000)) < 60)
    assert np.any(abs(heard - 440) < 60) and np.any(abs(heard - 1000) < 60)


@needs_espeak
def test_mel_of_espeak_speech_matches_the_reference(tmp_path):
    wav = audio.load_speech(audio.speak(SENTENCE, tmp_path / "fox.wav"), max_seconds=30)
    mel = audio.melspectrogram(wav)
    assert mel.shape == (80, 1 + wav.size // 200)
    assert np.abs(mel - reference_mel(wav)).max() < TOLERANCE


def test_the_reflect_padding_shows_in_the_first_and_last_columns():
    """librosa >= 0.9 pads with zeros by default; PaddleGAN (librosa 0.8.1) padded by reflection."""
    import librosa
    from scipy.signal import lfilter

    wav = two_tones()
    ours = audio.melspectrogram(wav)
    emphasised = lfilter([1, -0.97], [1], wav.astype(np.float64))
    zeros = scaled_mel(np.abs(librosa.stft(emphasised, n_fft=800, hop_length=200, win_length=800)))
    assert np.abs(zeros - reference_mel(wav, pad="constant")).max() < TOLERANCE  # librosa's default: zeros
    edges = [0, 1, -2, -1]  # columns whose 800-sample frame reaches into the padding
    assert np.abs(ours[:, edges] - zeros[:, edges]).max(axis=0).min() > 0.1
    assert np.abs(ours[:, 2:-2] - zeros[:, 2:-2]).max() < TOLERANCE


@pytest.mark.parametrize("samples", [800, 3199, 3200, 3201, 16000, 16199])
def test_mel_has_one_column_per_200_samples_plus_one(samples):
    wav = np.random.default_rng(samples).uniform(-0.5, 0.5, samples).astype(np.float32)
    mel = audio.melspectrogram(wav)
    assert mel.shape == (80, 1 + samples // 200)
    assert np.abs(mel - reference_mel(wav)).max() < TOLERANCE


def test_melspectrogram_refuses_what_it_cannot_use():
    with pytest.raises(ValueError, match="1-D"):
        audio.melspectrogram(np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="at least 800 samples"):
        audio.melspectrogram(np.zeros(799, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        audio.melspectrogram(np.full(1600, np.nan, np.float32))
    silent = audio.melspectrogram(np.zeros(1600, np.float32))
    assert np.all(silent == -4)


# --- frame windows -----------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [24, 25, 29.97, 30, Fraction(30000, 1001), 60])
def test_frame_count_and_mel_windows_agree_with_wav2lips_loop(fps):
    lengths = list(range(3000, 3000 + 200 * 60, 37)) + [16000 * 10 + 123, 16000 * 60, 16000 * 600 - 1]
    for samples in lengths:
        columns = 1 + samples // 200
        expected = reference_starts(columns, fps)
        assert audio.frame_count(samples, fps) == len(expected), samples
        if columns > 2000:
            continue  # the long ones: the count is enough
        mel = np.broadcast_to(np.arange(columns, dtype=np.float32), (80, columns))  # a column holds its index
        windows = audio.mel_windows(mel, fps)
        assert windows.shape == (len(expected), 80, 16)
        assert np.array_equal(windows[:, 7, :], np.array(expected)[:, None] + np.arange(16))


def test_a_second_at_25_fps_makes_26_frames_of_80_by_16():
    mel = audio.melspectrogram(two_tones())
    windows = audio.mel_windows(mel, 25)
    # 81 columns: windows at 0, 3.2, 6.4 ... while they fit (int(i * 3.2) <= 65: i = 0..20), then the last
    assert windows.shape == (22, 80, 16) and windows.dtype == np.float32
    assert audio.frame_count(16000, 25) == 22
    assert np.array_equal(windows[1], mel[:, 3:19]) and np.array_equal(windows[-1], mel[:, -16:])


def test_windows_refuse_too_short_a_mel_and_a_bad_rate():
    with pytest.raises(ValueError, match="shorter than one window"):
        audio.mel_windows(np.zeros((80, 15), np.float32), 25)
    with pytest.raises(ValueError, match="shorter than one window"):
        audio.frame_count(2999, 25)
    assert audio.frame_count(3000, 25) == 2  # 16 columns: the first window, then the last (the same)
    for rate in (0, -25, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="frame rate"):
            audio.frame_count(16000, rate)


# --- speech uploads ----------------------------------------------------------------------------


def dominant_hz(samples, rate=16000):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return np.argmax(spectrum) * rate / samples.size


def test_load_speech_reads_a_44k_stereo_wav(tmp_path):
    path = tmp_path / "stereo.wav"
    # 440 Hz on the left, nothing on the right: the mono average is a 440 Hz sine of half the amplitude.
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*440*t)|0:s=44100:d=1", "-c:a", "pcm_s16le", str(path))
    samples = audio.load_speech(path, max_seconds=10)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - 16000) <= 2
    assert np.abs(samples).max() == pytest.approx(0.25, abs=0.01)
    assert dominant_hz(samples) == pytest.approx(440, abs=3)


def test_load_speech_reads_mp3_and_aac_in_mp4(tmp_path):
    mp3 = tmp_path / "tone.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=22050:duration=1", "-c:a", "libmp3lame", str(mp3))
    samples = audio.load_speech(mp3, max_seconds=10)
    assert samples.size / 16000 == pytest.approx(1.0, abs=0.1)  # MP3 frames pad the ends a little
    assert dominant_hz(samples) == pytest.approx(1000, abs=3)

    video = make_clip(tmp_path / "talk.mp4", 64, 48, 25, 1.0)  # a 300 Hz tone in AAC
    samples = audio.load_speech(video, max_seconds=10)
    assert samples.size / 16000 == pytest.approx(1.0, abs=0.1)
    assert dominant_hz(samples) == pytest.approx(300, abs=3)


def test_load_speech_names_a_video_without_sound(tmp_path):
    video = make_clip(tmp_path / "mute.mp4", 64, 48, 25, 1.0, audio=False)
    with pytest.raises(InputError, match=r"^The file mute\.mp4 has no audio track\.$"):
        audio.load_speech(video, max_seconds=10)


def test_load_speech_refuses_silence_and_near_silence(tmp_path):
    zero = write_wav(tmp_path / "zero.wav", np.zeros(16000))
    with pytest.raises(InputError, match=r"^The audio zero\.wav is silent \(every sample is zero\); "
                                         r"lip sync needs speech louder than -50 dBFS\.$"):
        audio.load_speech(zero, max_seconds=10)
    hiss = write_wav(tmp_path / "hiss.wav", tone(1.0, dbfs=-60))
    with pytest.raises(InputError, match=r"^The audio hiss\.wav is silent or nearly: its loudest 0\.2 seconds "
                                         r"are at -60 dBFS; lip sync needs speech louder than -50 dBFS\.$"):
        audio.load_speech(hiss, max_seconds=10)
    # Quiet speech with long pauses passes: what counts is the loudest 0.2 s.
    pauses = np.zeros(16000 * 3, np.float32)
    pauses[16000:16000 + 4000] = tone(0.25, dbfs=-40)
    assert audio.load_speech(write_wav(tmp_path / "quiet.wav", pauses), max_seconds=10).size == 48000


def test_load_speech_refuses_too_short_and_too_long(tmp_path):
    short = write_wav(tmp_path / "short.wav", tone(0.1))
    with pytest.raises(InputError, match=r"^The audio short\.wav is 0\.1 seconds long; "
                                         r"at least 0\.2 seconds are needed\.$"):
        audio.load_speech(short, max_seconds=10)
    just = write_wav(tmp_path / "just.wav", tone(0.2))
    assert audio.load_speech(just, max_seconds=10).size == 3200
    long = write_wav(tmp_path / "long.wav", tone(3.0))
    with pytest.raises(LimitExceeded, match=r"^The audio long\.wav is 3\.0 seconds long; the limit is 2 seconds\.$"):
        audio.load_speech(long, max_seconds=2)


def test_load_speech_refuses_samples_that_are_not_numbers(tmp_path):
    samples = tone(1.0)
    samples[5000] = np.nan  # a float WAV can hold one; the mel spectrogram would be NaN from there
    with pytest.raises(InputError, match=r"^The audio nan\.wav holds invalid samples"):
        audio.load_speech(write_wav(tmp_path / "nan.wav", samples), max_seconds=10)


def test_load_speech_refuses_what_isnt_sound(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not a sound at all\n" * 50)
    with pytest.raises(InputError, match=r"^The file notes\.wav isn't a readable audio file"):
        audio.load_speech(text, max_seconds=10)


# --- text-to-speech ----------------------------------------------------------------------------


def seconds_of(path):
    return audio.load_speech(path, max_seconds=60).size / audio.SAMPLE_RATE


@needs_espeak
def test_speak_says_a_sentence(tmp_path):
    assert audio.espeak_available()
    start = time.monotonic()
    path = audio.speak(SENTENCE, tmp_path / "out" / "fox.wav")
    assert path == tmp_path / "out" / "fox.wav" and time.monotonic() - start < 10
    wav = audio.load_speech(path, max_seconds=60)
    assert 1.5 < wav.size / 16000 < 6  # nine words at espeak-ng's 175 words a minute: about 3 s
    assert audio.loudest_dbfs(wav) > -30  # spoken at a normal level
    assert audio.frame_count(wav.size, 25) == len(audio.mel_windows(audio.melspectrogram(wav), 25))


@needs_espeak
def test_text_that_looks_like_options_is_spoken(tmp_path):
    plain = seconds_of(audio.speak("help me, please", tmp_path / "plain.wav"))
    dashes = seconds_of(audio.speak("--help me, please", tmp_path / "dashes.wav"))
    assert dashes == pytest.approx(plain, rel=0.2)  # spoken, not espeak-ng's usage text
    elsewhere = tmp_path / "elsewhere.wav"
    for text in ("-v", f"-w {elsewhere}", "--stdin"):
        assert seconds_of(audio.speak(text, tmp_path / "option.wav")) > 0.2
    assert not elsewhere.exists()


@needs_espeak
def test_speak_takes_a_voice_and_refuses_unknown_ones(tmp_path):
    assert seconds_of(audio.speak("bonjour tout le monde", tmp_path / "fr.wav", voice="fr")) > 0.5
    with pytest.raises(InputError, match=r"^The voice 'xx-nope' isn't one of espeak-ng's voices"):
        audio.speak("hello", tmp_path / "x.wav", voice="xx-nope")
    for bad in ("-q", "--stdin", "en us", "../en", ""):
        with pytest.raises(InputError, match="isn't an espeak-ng voice name"):
            audio.speak("hello", tmp_path / "x.wav", voice=bad)


def test_speak_refuses_empty_and_overlong_text(tmp_path):
    for empty in ("", "   \n\t "):
        with pytest.raises(InputError, match=r"^The text to speak is empty"):
            audio.speak(empty, tmp_path / "x.wav")
    with pytest.raises(LimitExceeded, match=r"^The text to speak is 501 characters long; the limit is 500 characters\.$"):
        audio.speak("a" * 501, tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_speak_without_espeak_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no espeak-ng on it
    assert not audio.espeak_available()
    with pytest.raises(audio.TextToSpeechUnavailable, match=r"needs the espeak-ng program.*Debian package espeak-ng"):
        audio.speak("hello", tmp_path / "x.wav")


def test_importing_core_audio_loads_neither_librosa_nor_scipy():
    code = ("import sys; import core.audio; "
            "print(sorted(m for m in ('librosa', 'scipy', 'numba') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert result.stdout.strip() == "[]"
