"""core.media: images, streamed video and audio. All inputs are generated here, offline."""
import re
import struct
import subprocess
import threading
import time
import tracemalloc
import zlib
from fractions import Fraction

import numpy as np
import psutil
import pytest
from PIL import Image, ImageFile

from core import media
from core.errors import InputError, LimitExceeded

NTSC = Fraction(30000, 1001)


def ffmpeg(*args):
    """Run the bundled ffmpeg quietly; fail the test with its message if it fails."""
    result = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def ffmpeg_stream_lines(path):
    """The 'Stream #...' lines of `ffmpeg -i`, parsed here independently of core.media."""
    log = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return [line.strip() for line in log.splitlines() if line.strip().startswith("Stream #")]


def gradient_image(height=30, width=40):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2)],
                    axis=2).astype(np.uint8)


def png_header_only(width, height):
    """A PNG with a valid header and no pixel data: any attempt to decode it fails."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def no_ffmpeg_children():
    return [child for child in psutil.Process().children(recursive=True) if "ffmpeg" in child.name()]


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize("fmt, suffix, tolerance", [("PNG", ".png", 0), ("JPEG", ".jpg", 6), ("WEBP", ".webp", 6)])
def test_image_round_trip_from_path_and_bytes(tmp_path, fmt, suffix, tolerance):
    original = gradient_image()
    path = tmp_path / f"gradient{suffix}"
    Image.fromarray(original).save(path, format=fmt, **({"quality": 95} if fmt != "PNG" else {}))
    for source in (path, str(path), path.read_bytes()):
        decoded = media.read_image(source)
        assert decoded.dtype == np.uint8 and decoded.shape == (30, 40, 3)
        assert np.abs(decoded.astype(int) - original).mean() <= tolerance


def test_write_png_round_trips_rgb_rgba_and_grey(tmp_path):
    rgb = gradient_image()
    assert np.array_equal(media.read_image(media.write_png(rgb, tmp_path / "sub" / "rgb.png")), rgb)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 100, np.uint8)])
    colours, alpha = media.read_image_rgba(media.write_png(rgba, tmp_path / "rgba.png"))
    assert np.array_equal(colours, rgb) and np.all(alpha == 100)
    grey = rgb[:, :, 0]
    assert np.array_equal(media.read_image(media.write_png(grey[:, :, None], tmp_path / "grey.png")),
                          np.dstack([grey] * 3))
    with pytest.raises(ValueError):
        media.write_png(rgb.astype(np.float32), tmp_path / "float.png")


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((30, 40, 3), np.uint8)
    stored[:5, :5] = (255, 0, 0)  # red mark at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    shown = media.read_image(path)
    assert shown.shape == (40, 30, 3)
    assert shown[1, -2, 0] > 200 and shown[1, 1, 0] < 50  # the mark moved to the top-right


def test_grey_palette_and_16_bit_become_rgb(tmp_path):
    rgb = gradient_image()
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey.png")
    grey = media.read_image(tmp_path / "grey.png")
    assert grey.shape == (30, 40, 3) and np.array_equal(grey[:, :, 0], rgb[:, :, 0])
    assert np.array_equal(grey[:, :, 0], grey[:, :, 2])

    Image.fromarray(rgb).quantize(colors=16).save(tmp_path / "palette.png")
    palette = media.read_image(tmp_path / "palette.png")
    assert palette.shape == (30, 40, 3) and np.abs(palette.astype(int) - rgb).mean() < 20

    deep = (rgb[:, :, 1].astype(np.uint16) * 257)  # 16-bit grey spanning the full range
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert np.array_equal(media.read_image(tmp_path / "deep.png")[:, :, 0], rgb[:, :, 1])


def png_bytes(samples, colour_type, extra_chunks=b""):
    """A complete PNG of 16-bit samples (H x W x channels, uint16), written by hand: Pillow can't write RGB 16-bit."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    samples = samples.reshape(samples.shape[0], samples.shape[1], -1)
    height, width = samples.shape[:2]
    raw = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra_chunks + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def test_sixteen_bit_pngs_are_scaled_not_saturated():
    levels = np.array([[0, 257 * 3, 30000, 257 * 200, 65535]], np.uint16)  # 0, 3, 116.7, 200, 255 in 8 bits
    expected = np.rint(levels / 257.0)

    grey = media.read_image(png_bytes(levels, 0))  # Pillow mode I;16
    assert np.array_equal(grey[0, :, 0], expected[0]) and np.array_equal(grey[..., 0], grey[..., 2])

    rgb16 = np.dstack([levels, 65535 - levels, levels // 2])
    colour = media.read_image(png_bytes(rgb16, 2)).astype(int)  # Pillow keeps the high byte: within 1
    assert np.abs(colour - np.rint(rgb16 / 257.0)).max() <= 1

    rgba16 = np.dstack([rgb16, 65535 - levels])
    rgb, alpha = media.read_image_rgba(png_bytes(rgba16, 6))
    assert np.abs(rgb.astype(int) - np.rint(rgb16 / 257.0)).max() <= 1
    assert np.abs(alpha.astype(int) - np.rint((65535 - levels[0]) / 257.0)).max() <= 1

    grey_alpha = np.dstack([levels, np.full_like(levels, 65535)])
    rgb, alpha = media.read_image_rgba(png_bytes(grey_alpha, 4))
    assert np.abs(rgb[0, :, 0].astype(int) - expected[0]).max() <= 1 and alpha is None

    # Colour keys (tRNS) in 16 bits: the keyed pixel is transparent, the others keep their level.
    keyed_grey = png_bytes(levels, 0, struct.pack(">I", 2) + b"tRNS" + struct.pack(">H", 30000)
                           + struct.pack(">I", zlib.crc32(b"tRNS" + struct.pack(">H", 30000))))
    rgb, alpha = media.read_image_rgba(keyed_grey)
    assert alpha[0].tolist() == [255, 255, 0, 255, 255] and np.array_equal(rgb[0, :, 0], expected[0])
    key = struct.pack(">HHH", *rgb16[0, 2])
    keyed_rgb = png_bytes(rgb16, 2, struct.pack(">I", 6) + b"tRNS" + key + struct.pack(">I", zlib.crc32(b"tRNS" + key)))
    rgb, alpha = media.read_image_rgba(keyed_rgb)
    assert alpha[0].tolist() == [255, 255, 0, 255, 255]
    assert media.read_image(keyed_rgb)[0, 2].tolist() == [255, 255, 255]


def test_palette_images_with_and_without_transparency(tmp_path):
    rgb = gradient_image()
    opaque = Image.fromarray(rgb).quantize(colors=32)
    opaque.save(tmp_path / "opaque.png")
    colours, alpha = media.read_image_rgba(tmp_path / "opaque.png")
    assert alpha is None and np.abs(colours.astype(int) - rgb).mean() < 12

    keyed = opaque.copy()
    keyed.info["transparency"] = int(np.asarray(opaque)[0, 0])  # the top-left pixel's palette index
    keyed.save(tmp_path / "keyed.png", transparency=keyed.info["transparency"])
    keyed.save(tmp_path / "keyed.gif", transparency=keyed.info["transparency"])
    for path in (tmp_path / "keyed.png", tmp_path / "keyed.gif"):
        colours, alpha = media.read_image_rgba(path)
        assert alpha[0, 0] == 0 and (alpha == 255).mean() > 0.5, path.name
        assert media.read_image(path)[0, 0].tolist() == [255, 255, 255]

    ramp = Image.new("P", (4, 1))
    ramp.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    ramp.putdata([0, 1, 2, 3])
    ramp.save(tmp_path / "partial.png", transparency=bytes([0, 128, 255, 255]))  # per-entry alpha (tRNS)
    colours, alpha = media.read_image_rgba(tmp_path / "partial.png")
    assert alpha[0].tolist() == [0, 128, 255, 255] and colours[0, 2].tolist() == [0, 0, 255]


def test_cmyk_jpeg_comes_out_in_the_right_colours(tmp_path):
    rgb = np.zeros((16, 32, 3), np.uint8)
    rgb[:, :16], rgb[:, 16:] = (200, 30, 90), (10, 220, 40)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    assert Image.open(tmp_path / "print.jpg").mode == "CMYK"  # stored as CMYK (Adobe, inverted)
    decoded = media.read_image(tmp_path / "print.jpg")
    assert decoded.shape == (16, 32, 3)
    assert np.abs(decoded[4:12, 2:14].astype(int) - (200, 30, 90)).max() <= 8
    assert np.abs(decoded[4:12, 18:30].astype(int) - (10, 220, 40)).max() <= 8


# What a viewer shows for each EXIF orientation, as numpy operations on the stored pixels.
SHOWN_FOR_ORIENTATION = {
    1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(SHOWN_FOR_ORIENTATION))
def test_every_exif_orientation_is_shown_as_a_viewer_would(tmp_path, orientation):
    stored = np.zeros((24, 40, 3), np.uint8)
    stored[:8, :8] = (255, 0, 0)  # red at the stored top-left
    stored[:8, -16:] = (0, 255, 0)  # green, wider, at the stored top-right
    stored[-8:, :8] = (0, 0, 255)  # blue at the stored bottom-left
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"orientation{orientation}.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    expected = SHOWN_FOR_ORIENTATION[orientation](stored)
    shown = media.read_image(path)
    assert shown.shape == expected.shape
    assert np.abs(shown.astype(int) - expected).mean() < 4


def test_transparency_composites_on_white_and_stays_apart_in_rgba(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)  # fully transparent red
    rgba[0, 1] = (0, 0, 255, 255)  # opaque blue
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)

    composited = media.read_image(path)
    assert composited[0, 0].tolist() == [255, 255, 255]
    assert composited[0, 1].tolist() == [0, 0, 255]
    assert composited[0, 2].tolist() == [127, 127, 127]

    colours, alpha = media.read_image_rgba(path)
    assert np.array_equal(colours, rgba[:, :, :3]) and np.array_equal(alpha, rgba[:, :, 3])
    opaque = rgba.copy()
    opaque[:, :, 3] = 255
    assert media.read_image_rgba(opaque)[1] is None
    assert media.read_image_rgba(gradient_image())[1] is None


def test_arrays_are_accepted_and_checked():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert media.read_image(grey).shape == (3, 4, 3)
    assert np.array_equal(media.read_image(Image.fromarray(grey)), media.read_image(grey))
    with pytest.raises(InputError, match="float32"):
        media.read_image(grey.astype(np.float32))
    with pytest.raises(InputError, match="shape"):
        media.read_image(np.zeros((3, 4, 2), np.uint8))
    with pytest.raises(LimitExceeded, match="limit is 10.0 megapixels"):
        media.read_image(np.zeros((1, 1, 3), np.uint8).repeat(4000, 0).repeat(3000, 1), max_pixels=10_000_000)


def test_pixel_limit_is_judged_from_the_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(5000, 5000))

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as refusal:
        media.read_image(path, max_pixels=4_000_000)
    assert time.perf_counter() - start < 0.5
    assert "5000x5000 = 25.0 megapixels; the limit is 4.0 megapixels" in str(refusal.value)


def test_decompression_bomb_gives_our_limit_error(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(20000, 20000))  # beyond Pillow's own guard
    with pytest.raises(LimitExceeded, match=r"400\.0 megapixels; the limit is 4\.0 megapixels"):
        media.read_image(path, max_pixels=4_000_000)
    with pytest.raises(LimitExceeded, match=r"400\.0 megapixels; the limit is"):
        media.read_image(path)


def test_unreadable_images_give_input_errors(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(gradient_image(300, 300)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for path in (truncated, text, empty):
        with pytest.raises(InputError, match=re.escape(path.name) + " isn't a readable image"):
            media.read_image(path)
    with pytest.raises(InputError, match="isn't a readable image"):
        media.read_image(b"GIF89a garbage")
    with pytest.raises(InputError, match="empty"):
        media.read_image(b"")
    with pytest.raises(InputError, match="doesn't exist"):
        media.read_image(tmp_path / "missing.png")


def test_float_conversions_are_exact_inverses():
    assert media.to_uint8(np.array([-1.0, 0.0, 1.0, 2.0])).tolist() == [0, 128, 255, 255]
    assert media.to_uint8(np.array([0.0, 0.5, 1.0]), low=0.0).tolist() == [0, 128, 255]
    every_level = np.arange(256, dtype=np.uint8)
    assert np.array_equal(media.to_uint8(media.to_float32(every_level)), every_level)
    assert np.allclose(media.to_float32(np.array([0, 255], np.uint8), low=0.0), [0.0, 1.0])


# ----------------------------------------------------------------------------- video


@pytest.fixture(scope="module")
def minute_video(tmp_path_factory):
    """60 s of 64x48 test pattern at 30000/1001 fps with a 440 Hz tone."""
    path = tmp_path_factory.mktemp("video") / "minute.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=30000/1001", "-f", "lavfi", "-i", "sine=frequency=440",
           "-t", "60", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    return path


class PeakMemory:
    """Peak RSS (sampled) and peak traced Python/numpy allocations during a `with` block."""

    def __enter__(self):
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.baseline_rss = self.peak_rss = self._process.memory_info().rss
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        tracemalloc.start()
        self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    def __exit__(self, *exc_info):
        self.peak_traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self._stop.set()
        self._sampler.join()
        self.rss_growth = self.peak_rss - self.baseline_rss


def stream_inverted(source, target, max_frames=None):
    """Read -> invert -> write, frame by frame; returns (frames read, PeakMemory)."""
    with PeakMemory() as memory:
        frames = media.iter_video_frames(source)
        count = 0
        with frames, media.VideoWriter(target, frames.info.fps, audio_from=source) as writer:
            for frame in frames:
                writer.write(255 - frame)
                count += 1
                if count == max_frames:
                    break
    return count, memory


def test_video_streams_at_constant_memory_and_keeps_rate_length_and_audio(minute_video, tmp_path):
    source = media.probe_video(minute_video)
    assert (source.width, source.height, source.fps, source.has_audio) == (64, 48, NTSC, True)
    assert abs(source.duration_s - 60.0) < 0.1 and abs(source.n_frames - 1798) <= 1

    stream_inverted(minute_video, tmp_path / "warmup.mp4", max_frames=30)
    ten_frames, ten_seconds = stream_inverted(minute_video, tmp_path / "ten.mp4", max_frames=300)
    all_frames, full = stream_inverted(minute_video, tmp_path / "full.mp4")
    assert no_ffmpeg_children() == []  # stopping early and finishing both reap ffmpeg

    # Memory does not scale with length: holding the 60 s of frames would take 16.5 MB.
    megabyte = 1 << 20
    assert full.rss_growth <= ten_seconds.rss_growth + 10 * megabyte, (full.rss_growth, ten_seconds.rss_growth)
    assert full.peak_traced <= ten_seconds.peak_traced + 1 * megabyte, (full.peak_traced, ten_seconds.peak_traced)

    ten = media.probe_video(tmp_path / "ten.mp4")
    assert ten_frames == 300 and abs(ten.duration_s - 300 / NTSC) <= 1 / NTSC and ten.has_audio

    output_path = tmp_path / "full.mp4"
    output = media.probe_video(output_path)
    assert output.fps == source.fps
    assert abs(output.duration_s - source.duration_s) <= 1 / source.fps
    assert output.has_audio
    assert sum(1 for _ in media.iter_video_frames(output_path)) == all_frames == source.n_frames
    video_line, audio_line = ffmpeg_stream_lines(output_path)
    assert re.search(r"Video: h264 .*yuv420p", video_line) and "64x48" in video_line
    assert "Audio: aac" in audio_line

    first_in = next(media.iter_video_frames(minute_video))
    first_out = next(media.iter_video_frames(output_path))
    assert np.abs((255 - first_in.astype(int)) - first_out).mean() < 6
    assert no_ffmpeg_children() == []


def test_video_limits_are_checked_before_decoding(minute_video):
    with pytest.raises(LimitExceeded, match=r"minute\.mp4 is 60\.0 seconds long; the limit is 10 seconds"):
        media.iter_video_frames(minute_video, max_seconds=10)
    with pytest.raises(LimitExceeded, match=r"64x48 = 0\.00307 megapixels; the limit is 0\.001 megapixels"):
        media.iter_video_frames(minute_video, max_pixels=1000)
    frames = media.iter_video_frames(minute_video, max_seconds=60.5, max_pixels=64 * 48)
    assert frames.info.n_frames == 1798 and frames.info.fps == NTSC
    assert no_ffmpeg_children() == []  # nothing decoded until the first frame is asked for
    frames.close()


def test_odd_frame_size_is_padded_to_even_and_playable(tmp_path):
    frames = [np.full((49, 65, 3), (200, 30, 90), np.uint8) for _ in range(12)]
    for frame in frames:
        frame[:, -1] = (10, 220, 40)  # a distinct last column, repeated by the padding
    with media.VideoWriter(tmp_path / "odd.mp4", 25) as writer:
        for frame in frames:
            writer.write(frame)
    assert (writer.frame_size, writer.output_size, writer.padded) == ((65, 49), (66, 50), True)

    info = media.probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height, info.fps, info.has_audio) == (66, 50, 25, False)
    assert (info.codec, info.pixel_format) == ("h264", "yuv420p")
    decoded = list(media.iter_video_frames(tmp_path / "odd.mp4"))
    assert len(decoded) == 12 and decoded[0].shape == (50, 66, 3)
    assert np.abs(decoded[5][20, 10].astype(int) - (200, 30, 90)).max() <= 4
    assert np.abs(decoded[5][20, -1].astype(int) - (10, 220, 40)).max() <= 12  # edge repeated, not black

    written = media.write_video(iter(frames[:3]), tmp_path / "short.mp4", "24000/1001")
    assert media.probe_video(written).fps == Fraction(24000, 1001)


def test_writer_failure_removes_the_partial_file_and_reaps_ffmpeg(tmp_path):
    target = tmp_path / "broken.mp4"
    with pytest.raises(ValueError, match="earlier frames were 32x16"):
        with media.VideoWriter(target, 30) as writer:
            writer.write(np.zeros((16, 32, 3), np.uint8))
            writer.write(np.zeros((18, 32, 3), np.uint8))
    assert not target.exists() and no_ffmpeg_children() == []


def test_non_videos_are_refused(minute_video, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(minute_video.read_bytes()[:3000])
    still = tmp_path / "still.png"
    Image.fromarray(gradient_image()).save(still)
    tone = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(tone))

    for path, reason in ((text, "isn't a readable video"), (truncated, "isn't a readable video"),
                         (still, "is a still image"), (tone, "has no video track")):
        with pytest.raises(InputError, match=re.escape(path.name) + ".*" + reason):
            media.iter_video_frames(path)
    with pytest.raises(InputError, match="isn't a readable media file"):
        media.VideoWriter(tmp_path / "out.mp4", 25, audio_from=text)
    assert str(tmp_path) not in str(pytest.raises(InputError, media.probe_video, text).value)


# ----------------------------------------------------------------------------- audio


def dominant_frequency(samples, sample_rate):
    spectrum = np.abs(np.fft.rfft(samples))
    return np.argmax(spectrum) * sample_rate / len(samples)


@pytest.mark.parametrize("suffix, codec, length_tolerance", [(".wav", "pcm_s16le", 0), (".mp3", "libmp3lame", 600)])
def test_audio_is_read_as_mono_float_at_the_requested_rate(tmp_path, suffix, codec, length_tolerance):
    path = tmp_path / f"tone{suffix}"
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*440*t):s=44100:d=2", "-c:a", codec, str(path))
    samples = media.read_audio(path, sample_rate=16000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 32000) <= length_tolerance
    steady = samples[2000:-2000]
    assert abs(np.abs(steady).max() - 0.5) < 0.03
    assert abs(np.sqrt(np.mean(steady ** 2)) - 0.5 / np.sqrt(2)) < 0.02
    assert abs(dominant_frequency(steady, 16000) - 440) < 2


def test_stereo_is_averaged_and_rate_is_respected(tmp_path):
    path = tmp_path / "stereo.wav"
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*440*t)|0.1*sin(2*PI*440*t):s=48000:d=1", str(path))
    samples = media.read_audio(path, sample_rate=22050)
    assert len(samples) == 22050
    assert abs(np.abs(samples).max() - 0.3) < 0.01


def test_audio_errors(minute_video, tmp_path):
    text = tmp_path / "speech.wav"
    text.write_text("no sound here")
    with pytest.raises(InputError, match=r"speech\.wav isn't a readable audio file"):
        media.read_audio(text)
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=1", "-pix_fmt", "yuv420p", str(silent))
    with pytest.raises(InputError, match="has no audio track"):
        media.read_audio(silent)
    with pytest.raises(LimitExceeded, match=r"60\.0 seconds long; the limit is 30 seconds"):
        media.read_audio(minute_video, max_seconds=30)


def test_a_video_whose_sound_ends_early_keeps_every_frame(tmp_path):
    """A 1 s sound under a 3 s video: the written video is 3 s long, its last 2 s silent."""
    source = tmp_path / "short-sound.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=3", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source))
    target = tmp_path / "out.mp4"
    with media.iter_video_frames(source) as frames, media.VideoWriter(target, frames.info.fps, audio_from=source) as writer:
        for frame in frames:
            writer.write(frame)
    info = media.probe_video(target)
    assert info.n_frames == 30 and info.has_audio and abs(info.duration_s - 3.0) < 0.15


def test_write_image_writes_each_format_with_its_extension_and_refuses_what_it_cannot_hold(tmp_path):
    from core.media import IMAGE_FORMATS, flatten_alpha, write_image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    for fmt, (extension, pillow_format) in IMAGE_FORMATS.items():
        path = write_image(rgb, tmp_path / "out.png", fmt, 100)
        assert path.suffix == extension
        with Image.open(path) as written:
            assert written.format == pillow_format and written.size == (16, 12)
            if fmt != "jpeg":  # PNG, and WebP at quality 100, are lossless
                np.testing.assert_array_equal(np.asarray(written.convert("RGB")), rgb)
    grey = rgb[:, :, 0]
    with Image.open(write_image(grey, tmp_path / "grey", "webp", 100)) as written:
        np.testing.assert_array_equal(np.asarray(written.convert("L")), grey)
    rgba = np.dstack([rgb, np.full((12, 16), 128, np.uint8)])
    with pytest.raises(ValueError, match="JPEG has no transparency"):
        write_image(rgba, tmp_path / "x", "jpeg")
    with pytest.raises(ValueError, match="quality must be from 1 to 100"):
        write_image(rgb, tmp_path / "x", "webp", 0)
    with pytest.raises(ValueError, match="unknown image format 'gif'"):
        write_image(rgb, tmp_path / "x", "gif")
    flat = flatten_alpha(rgba)  # half transparent over white: half way to 255
    np.testing.assert_array_equal(flat, np.rint(rgb * (128 / 255) + 255 * (127 / 255)).astype(np.uint8))
