"""core.media against hostile uploads: manifests that point at other files, lying headers,
frame-rate and frame-size tricks, decompression bombs, data: URLs. All inputs are made here, offline."""
import base64
import io
import re
import struct
import subprocess
import time
import urllib.parse
import zlib

import numpy as np
import psutil
import pytest
from PIL import Image

from core import media
from core.errors import InputError, LimitExceeded
from tests.hostile import FileWatch, write_manifests
from tests.clips import (ffmpeg, make_burst_clip, make_clip, make_gap_clip, make_lying_clip,
                         make_size_change_clip, restate_duration)


def no_ffmpeg_children():
    return [child for child in psutil.Process().children(recursive=True) if "ffmpeg" in child.name()]


# ----------------------------------------------------------------------------- manifests


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    return write_manifests(tmp_path_factory.mktemp("manifests"))


MANIFESTS = ["dash", "hls", "hls-named-mp4", "ffconcat"]


@pytest.mark.parametrize("kind", MANIFESTS)
def test_manifest_is_refused_and_what_it_points_at_is_never_opened(canaries, kind, tmp_path):
    manifest, canary = canaries[kind]
    name = re.escape(manifest.name)
    with FileWatch(canary) as watch:
        with pytest.raises(InputError, match=name + " isn't a readable video") as refusal:
            media.probe_video(manifest)
        if kind != "hls-named-mp4":  # ffmpeg 7+ takes HLS only from .m3u8/.m3u names: that one reads as a broken mp4
            assert "playlists and manifests" in str(refusal.value)
        with pytest.raises(InputError, match=name + " isn't a readable video"):
            media.iter_video_frames(manifest)
        with pytest.raises(InputError, match=name + " isn't a readable audio file"):
            media.read_audio(manifest)
        with pytest.raises(InputError, match=name + " isn't a readable media file"):
            media.VideoWriter(tmp_path / "out.mp4", 25, audio_from=manifest)
        assert watch.events() == []
    assert no_ffmpeg_children() == []


@pytest.mark.parametrize("kind", MANIFESTS)
def test_plain_ffmpeg_would_open_what_the_manifest_points_at(canaries, kind):
    """The control that makes the test above meaningful: without the whitelists, ffmpeg follows the manifest."""
    manifest, canary = canaries[kind]
    with FileWatch(canary) as watch:
        subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(manifest), "-f", "null", "-"],
                       capture_output=True, timeout=60)
        followed = watch.events()
    if not followed:
        pytest.skip(f"this ffmpeg doesn't follow a {kind} manifest named {manifest.name} anyway")
    assert any(mask & FileWatch.IN_OPEN for mask in followed)


def ffmpeg_demuxer_names():
    listing = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-demuxers"], capture_output=True, text=True).stdout
    names = set()
    for line in listing.splitlines():
        found = re.match(r"^\s*D[ d]?\S*\s+(\S+)\s", line)  # " D  mov,mp4,m4a,3gp,3g2,mj2 QuickTime / MOV"
        if found and found.group(1) != "=":
            names.update(found.group(1).split(","))
    return names


def test_accepted_demuxers_exist_in_this_ffmpeg_and_exclude_playlists():
    names = ffmpeg_demuxer_names()
    assert {"mov", "matroska", "hls", "dash", "concat", "image2"} <= names  # the listing was parsed
    assert set(media._ACCEPTED_DEMUXERS) <= names, set(media._ACCEPTED_DEMUXERS) - names
    refused = {"hls", "dash", "concat", "imf", "webm_dash_manifest", "sdp", "rtsp", "rtp", "data",
               "image2", "image2pipe", "ffmetadata", "mpegtsraw", "lavfi", "tee"}
    assert not refused & set(media._ACCEPTED_DEMUXERS)
    options = list(media._UPLOAD_INPUT_OPTIONS)
    assert options[:3] == ["-protocol_whitelist", "file,pipe", "-format_whitelist"]
    assert options[3].split(",") == list(media._ACCEPTED_DEMUXERS)


def upload_inputs(command):
    """(options, path) for each `-i` of an ffmpeg command, the options being those since the previous input."""
    inputs, start = [], 1
    for index, arg in enumerate(command):
        if arg == "-i":
            inputs.append((command[start:index], command[index + 1]))
            start = index + 2
    return inputs


def test_every_ffmpeg_read_of_an_upload_is_whitelisted(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip.mp4", 32, 32, 10, 1)
    raw = tmp_path / "clip.h264"  # no container duration: probe counts packets
    ffmpeg("-i", str(clip), "-map", "0:v", "-c", "copy", "-f", "h264", str(raw))
    commands = []
    real_popen = subprocess.Popen

    def popen(command, *args, **kwargs):  # subprocess.run starts its child through Popen too
        commands.append(list(command))
        return real_popen(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    media.probe_video(raw)
    assert len(list(media.iter_video_frames(clip, max_seconds=5, max_pixels=10_000))) == 10
    media.read_audio(clip, max_seconds=5)
    media.write_video([np.zeros((16, 16, 3), np.uint8)] * 5, tmp_path / "out.mp4", 10, audio_from=clip)
    monkeypatch.undo()

    uploads = {str(clip), str(raw)}
    reads = [(options, path) for command in commands for options, path in upload_inputs(command) if path in uploads]
    # probe + packet count (raw), probe + decode (clip), header + decode (audio), header + mux (writer)
    assert len(reads) == 8, commands
    for options, path in reads:
        assert options[options.index("-protocol_whitelist") + 1] == "file,pipe", options
        assert options[options.index("-format_whitelist") + 1] == ",".join(media._ACCEPTED_DEMUXERS), options
    other_inputs = {path for command in commands for _, path in upload_inputs(command)} - uploads
    # The writer's own frames, and its own encoded frames when it joins the sound to them.
    assert other_inputs == {"pipe:0", str(tmp_path / ".out.mp4.video.mp4")}


def test_still_image_is_still_named_as_such(tmp_path):
    still = tmp_path / "still.mp4"
    Image.new("RGB", (40, 30), "red").save(still, format="PNG")
    with pytest.raises(InputError, match=r"still\.mp4 is a still image, not a video"):
        media.iter_video_frames(still)


# ----------------------------------------------------------------------------- frame rate, time, size


def test_frame_rate_over_the_cap_is_refused(tmp_path):
    fast = make_clip(tmp_path / "fast.mp4", 32, 32, 1000, 1, audio=False)
    assert media.MAX_FPS == 60
    for call in (media.probe_video, media.iter_video_frames):
        with pytest.raises(LimitExceeded, match=r"fast\.mp4 runs at 1000 frames per second; "
                                                r"the limit is 60 frames per second"):
            call(fast)
    with pytest.raises(LimitExceeded, match="the limit is 500 frames per second"):
        media.iter_video_frames(fast, max_fps=500)
    assert media.probe_video(fast, max_fps=None).fps == 1000
    sixty = make_clip(tmp_path / "sixty.mp4", 32, 32, 60, 0.5, audio=False)
    assert len(list(media.iter_video_frames(sixty))) == 30
    assert no_ffmpeg_children() == []


def test_timestamp_gap_decodes_the_frames_that_are_there(tmp_path):
    gap = make_gap_clip(tmp_path / "gap.mkv", gap_s=80, fps=25)
    assert gap.stat().st_size < 4000
    info = media.probe_video(gap)
    assert info.fps == 25 and abs(info.duration_s - 80) < 0.1
    # The control: ffmpeg's default output fills the gap with copies.
    filled = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(gap), "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                            capture_output=True).stdout
    assert len(filled) // (64 * 48 * 3) > 1900
    frames = list(media.iter_video_frames(gap))
    assert len(frames) == 2 and not np.array_equal(frames[0], frames[1])
    assert no_ffmpeg_children() == []


def test_far_timestamps_behind_a_short_header_are_refused_while_decoding(tmp_path):
    sparse = restate_duration(make_gap_clip(tmp_path / "sparse.mkv", gap_s=80), 0.04)
    assert media.probe_video(sparse).duration_s < 0.1  # the header passes any limit
    frames = media.iter_video_frames(sparse, max_seconds=10)
    with pytest.raises(LimitExceeded, match=r"sparse\.mkv is longer than its header says: frame 2 is at 80 seconds; "
                                            r"the limit is 10 seconds"):
        list(frames)
    assert no_ffmpeg_children() == []


def test_a_lying_duration_is_stopped_at_the_limit_while_decoding(tmp_path):
    liar = make_lying_clip(tmp_path / "liar.mkv", seconds=12, stated_seconds=1, fps=25)
    assert media.probe_video(liar).duration_s == pytest.approx(1.0)
    handed_out = []
    with pytest.raises(LimitExceeded, match=r"liar\.mkv .*the limit is 5 seconds"):
        for frame in media.iter_video_frames(liar, max_seconds=5):
            handed_out.append(frame)
    assert 50 <= len(handed_out) <= 126  # at most ceil(5 s * 25) + 1 = 126, and none past 5 s
    assert no_ffmpeg_children() == []
    assert len(list(media.iter_video_frames(liar))) == 300  # without a limit, every frame


def test_frames_beyond_the_budget_are_refused_even_when_timestamps_stay_inside(tmp_path):
    burst = make_burst_clip(tmp_path / "burst.mkv", frames=300, fps=25)
    info = media.probe_video(burst)
    assert info.fps == 25 and info.duration_s < 1.5  # 300 frames in 1.3 s, stated as 25 fps
    handed_out = 0
    with pytest.raises(LimitExceeded, match=r"burst\.mkv holds more than 126 frames, more than 5 seconds at "
                                            r"25 frames per second; the limit is 5 seconds"):
        for _ in media.iter_video_frames(burst, max_seconds=5):
            handed_out += 1
    assert handed_out == 126
    assert no_ffmpeg_children() == []


def test_frame_size_change_over_the_limit_is_refused_mid_stream(tmp_path):
    changing = make_size_change_clip(tmp_path / "changing.ts", first=(64, 48), second=(160, 120), frames=(10, 10))
    info = media.probe_video(changing)
    assert (info.width, info.height) == (64, 48)
    # Without a limit the second part is scaled to the probed size, as before.
    assert [frame.shape for frame in media.iter_video_frames(changing)] == [(48, 64, 3)] * 20
    handed_out = 0
    with pytest.raises(LimitExceeded, match=r"changing\.ts changes frame size at frame 11 to 160x120 = "
                                            r"0\.0192 megapixels; the limit is 0\.005 megapixels"):
        for _ in media.iter_video_frames(changing, max_pixels=5000):
            handed_out += 1
    assert handed_out <= 10
    assert no_ffmpeg_children() == []


def test_decoder_refuses_to_allocate_a_giant_frame_mid_stream(tmp_path):
    # The first part outlasts ffmpeg's 5 s header probe, so the header states 64x48.
    giant = make_size_change_clip(tmp_path / "giant.ts", first=(64, 48), second=(1600, 1200), frames=(150, 3))
    assert media.probe_video(giant, max_pixels=5000).width == 64
    with pytest.raises(LimitExceeded, match=r"giant\.ts changes frame size midway to about 1600x1200 = "
                                            r"1\.9 megapixels; the limit is 0\.005 megapixels"):
        list(media.iter_video_frames(giant, max_pixels=5000))
    assert no_ffmpeg_children() == []


def test_audio_longer_than_its_header_is_refused(tmp_path):
    liar = make_lying_clip(tmp_path / "liar.mka", seconds=12, stated_seconds=1, video=False)
    with pytest.raises(LimitExceeded, match=r"liar\.mka is longer than its header says: more than 5\.5 seconds; "
                                            r"the limit is 5 seconds"):
        media.read_audio(liar, sample_rate=8000, max_seconds=5)
    assert len(media.read_audio(liar, sample_rate=8000)) == 12 * 8000


# ----------------------------------------------------------------------------- images


def one_colour_png(width, height):
    """A real, complete 1-bit PNG of one colour: width x height pixels in a few KB per megapixel."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    block = row * 1000
    idat = b"".join(compressor.compress(block) for _ in range(height // 1000))
    idat += compressor.compress(row * (height % 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(one_colour_png(20000, 20000))
    return path


@pytest.fixture
def restore_pixel_cap():
    yield
    media.set_image_pixel_cap(None)


def timed(call, *args, **kwargs):
    start = time.perf_counter()
    with pytest.raises(InputError) as refusal:
        call(*args, **kwargs)
    return time.perf_counter() - start, refusal.value


def test_a_real_decompression_bomb_is_refused_fast(bomb):
    assert bomb.stat().st_size < 200_000  # 400 megapixels in a small file
    for kwargs, limit in (({"max_pixels": 4_000_000}, "4.0"), ({}, f"{2 * Image.MAX_IMAGE_PIXELS / 1e6:.1f}")):
        seconds, error = timed(media.read_image, bomb, **kwargs)
        assert isinstance(error, LimitExceeded) and seconds < 0.5, (seconds, error)
        assert f"bomb.png is 400.0 megapixels; the limit is {limit} megapixels" in str(error)
        seconds, error = timed(media.read_image, bomb.read_bytes(), **kwargs)
        assert isinstance(error, LimitExceeded) and seconds < 0.5


def test_pixel_cap_refuses_in_read_image_and_in_pillow_itself(tmp_path, restore_pixel_cap):
    big = tmp_path / "big.png"  # 144 MP: under Pillow's default guard (179 MP), so it would be decoded
    big.write_bytes(one_colour_png(12000, 12000))
    assert media.set_image_pixel_cap(16_000_000) is None
    seconds, error = timed(media.read_image, big)
    assert isinstance(error, LimitExceeded) and seconds < 0.5
    assert "big.png is 144.0 megapixels; the limit is 16.0 megapixels" in str(error)
    with pytest.raises(Image.DecompressionBombError):  # any other Pillow user (Gradio) is refused too
        Image.open(big)
    with pytest.raises(LimitExceeded, match="the limit is 1.0 megapixels"):  # the lower limit wins
        media.read_image(big, max_pixels=1_000_000)
    small = tmp_path / "small.png"
    small.write_bytes(one_colour_png(4000, 3000))  # 12 MP: under the cap, over half of it
    assert media.read_image(small).shape == (3000, 4000, 3)
    with pytest.raises(LimitExceeded, match=r"4000x3000 = 12\.0 megapixels; the limit is 10\.0 megapixels"):
        media.set_image_pixel_cap(10_000_000)
        media.read_image(np.zeros((3000, 4000, 3), np.uint8))
    assert media.set_image_pixel_cap(None) == 10_000_000
    assert Image.MAX_IMAGE_PIXELS == media._PILLOW_MAX_IMAGE_PIXELS


def test_broken_files_are_refused_fast_naming_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "letter.png"
    text.write_text("Dear reader, this is not a picture.\n" * 100)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (empty, text, truncated):
        seconds, error = timed(media.read_image, path)
        assert type(error) is InputError and seconds < 0.5, (path.name, seconds)
        assert f"{path.name} isn't a readable image" in str(error) and str(tmp_path) not in str(error)


def test_only_common_image_formats_are_tried(tmp_path):
    eps = tmp_path / "drawing.png"  # Pillow would render EPS by running Ghostscript
    eps.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(InputError, match=r"drawing\.png isn't a readable image"):
        media.read_image(eps)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "PPM"):
        path = tmp_path / f"image.{fmt.lower()}"
        Image.new("RGB", (8, 6), (250, 10, 10)).save(path, format=fmt)
        assert media.read_image(path).shape == (6, 8, 3), fmt


def png_data_url(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), buffer.getvalue()


def test_data_url_decodes_with_the_same_checks(bomb):
    url, png = png_data_url(Image.new("RGB", (5, 4), (10, 200, 30)))
    assert media.read_data_url(url, max_bytes=10_000).tolist() == [[[10, 200, 30]] * 5] * 4
    wrapped = url[:40] + "\n" + url[40:]  # line breaks inside base64 are tolerated
    assert media.read_data_url(wrapped, max_bytes=10_000).shape == (4, 5, 3)
    percent = "data:image/png," + urllib.parse.quote_from_bytes(png)
    assert media.read_data_url(percent, max_bytes=10_000).shape == (4, 5, 3)
    with pytest.raises(LimitExceeded, match=r"data URL is 5x4 = 2e-05 megapixels; the limit is 1e-05 megapixels"):
        media.read_data_url(url, max_bytes=10_000, max_pixels=10)
    bomb_url = "data:image/png;base64," + base64.b64encode(bomb.read_bytes()).decode("ascii")
    with pytest.raises(LimitExceeded, match="400.0 megapixels; the limit is 4.0 megapixels"):
        media.read_data_url(bomb_url, max_bytes=1_000_000, max_pixels=4_000_000)

    for bad, reason in (("https://example.com/cat.png", "isn't a data: URL"),
                        ("data:image/png;base64", "needs a comma"),
                        ("data:text/html;base64,PGgxPg==", "holds text/html, not an image"),
                        ("data:image/png;base64,@@@@", "isn't valid base64"),
                        ("data:image/png;base64,", "is empty"),
                        ("data:image/png;base64," + base64.b64encode(b"not an image").decode(), "isn't a readable image")):
        with pytest.raises(InputError, match=reason) as refusal:
            media.read_data_url(bad, max_bytes=10_000)
        assert type(refusal.value) is InputError and str(refusal.value).startswith("The image in the data URL")


def test_oversized_data_url_is_refused_from_its_length_before_decoding(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the payload was decoded")

    monkeypatch.setattr(base64, "b64decode", no_decoding)
    huge = "data:image/png;base64," + "A" * 40_000_000  # would decode to 30 MB
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"holds up to 30\.0 MB; the limit is 5\.0 MB"):
        media.read_data_url(huge, max_bytes=5_000_000)
    assert time.perf_counter() - start < 0.05
    with pytest.raises(LimitExceeded, match=r"holds up to 6\.0 MB; the limit is 5\.0 MB"):
        media.read_data_url("data:image/png," + "%00" * 2_000_000, max_bytes=5_000_000)


# ----------------------------------------------------------------------------- ordinary files still open

ORDINARY_VIDEOS = [  # (file name, ffmpeg output options)
    ("clip.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("clip.mov", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("clip.m4v", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4"]),
    ("clip.3gp", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("clip.mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("clip.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime"]),
    ("clip.avi", ["-c:v", "mpeg4"]),
    ("clip.flv", ["-c:v", "flv"]),
    ("clip.ts", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("clip.mpg", ["-c:v", "mpeg2video"]),
    ("clip.ogv", ["-c:v", "libtheora"]),
    ("clip.wmv", ["-c:v", "wmv2"]),
    ("clip.ivf", ["-c:v", "libvpx"]),
    ("clip.gif", []),
    ("clip.h264", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("clip.hevc", ["-c:v", "libx265", "-pix_fmt", "yuv420p", "-x265-params", "log-level=none"]),
]


@pytest.mark.parametrize("file_name, options", ORDINARY_VIDEOS, ids=[name for name, _ in ORDINARY_VIDEOS])
def test_ordinary_video_containers_still_open(tmp_path, file_name, options):
    path = tmp_path / file_name
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", *options, str(path))
    info = media.probe_video(path)
    assert (info.width, info.height) == (64, 48) and info.fps == 10
    assert len(list(media.iter_video_frames(path, max_seconds=2, max_pixels=64 * 48))) == 10


ORDINARY_AUDIO = [
    ("tone.wav", []), ("tone.mp3", ["-c:a", "libmp3lame"]), ("tone.flac", []), ("tone.m4a", ["-c:a", "aac"]),
    ("tone.aac", ["-c:a", "aac"]), ("tone.ogg", ["-c:a", "libvorbis"]), ("tone.opus", ["-c:a", "libopus"]),
    ("tone.ac3", []), ("tone.aiff", []), ("tone.caf", []), ("tone.mka", []), ("tone.webm", ["-c:a", "libopus"]),
    ("tone.amr", ["-c:a", "libopencore_amrnb", "-ar", "8000"]),
]


@pytest.mark.parametrize("file_name, options", ORDINARY_AUDIO, ids=[name for name, _ in ORDINARY_AUDIO])
def test_ordinary_audio_containers_still_open(tmp_path, file_name, options):
    path = tmp_path / file_name
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1", *options, str(path))
    samples = media.read_audio(path, sample_rate=8000, max_seconds=2)
    assert abs(len(samples) - 8000) < 800 and np.abs(samples).max() > 0.05
