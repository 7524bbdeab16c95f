"""Lip sync: the application (core.apps.lip_sync) and its tab (demos.lip_sync).

Wav2Lip runs as a narrow variant (the real layout with fewer channels) registered under the real
checkpoint names for the length of a test, from checkpoints saved as PaddleGAN saves them (a flat
state dict); faces are found by BlazeFace with its real weights, imported offline from the
mediapipe wheel into the test's cache. The talking head is the astronaut photo whose mouth region
opens and closes, with a made-up voice (a buzz whose loudness comes and goes like syllables).
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import paddle
import pytest
from PIL import Image
from skimage import data

from core import runtime, weights
from core.apps import lip_sync as ls
from core.errors import InputError, LimitExceeded, NoFaceFound, WeightsUnavailable
from core.media import ffmpeg_exe, iter_video_frames, probe_video, read_audio, write_video
from core.registry import WEIGHTS
from demos import lip_sync as tab
from tests.clips import MOUTH, read_marker, talking_clip, talking_frames, voice
from tests import aio

TINY = dict(width=0.125)  # an eighth of the channels: the same layers, names and skips
REPO = Path(__file__).resolve().parents[2]

try:
    importlib.metadata.distribution("mediapipe")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed", allow_module_level=True)


def write_tiny_checkpoints(folder: Path) -> None:
    for seed, choice in enumerate(ls.MODELS.values()):
        spec = weights.spec(choice.weights)
        paddle.seed(seed)
        paddle.save(weights.build_network(spec).state_dict(), str(folder / spec.filename))


@pytest.fixture
def tiny(place, registered):
    for choice in ls.MODELS.values():
        real = weights.spec(choice.weights)
        registered(WEIGHTS, real.name, dataclasses.replace(real, net_overrides=TINY), real.aliases)
    write_tiny_checkpoints(place / "weights")
    return place


def png(path: Path, picture: np.ndarray) -> str:
    Image.fromarray(picture).save(path)
    return str(path)


# ---------------------------------------------------------------- pieces


def test_a_short_video_plays_forward_then_backward():
    assert [ls.back_and_forth(i, 4) for i in range(12)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]
    assert [ls.back_and_forth(i, 1) for i in range(3)] == [0, 0, 0]


def test_each_frame_hears_paddlegans_mel_window_and_the_last_windows_repeat():
    mel = np.arange(80 * 101, dtype=np.float32).reshape(80, 101)  # 1 s of speech: 101 columns
    windows = list(ls.frame_windows(mel, Fraction(25), ls.output_frames(1.0, Fraction(25))))
    assert len(windows) == 25 and all(w.shape == (80, 16) for w in windows)
    starts = [int(w[0, 0]) for w in windows]
    assert starts[:10] == [int(i * 80 / 25) for i in range(10)]  # PaddleGAN's int(i * 80 / fps)
    assert starts == sorted(starts) and starts[-1] == int(24 * 80 / 25)
    # Past the speech's last full window (a rounding frame at the end) the window stays there.
    longer = [int(w[0, 0]) for w in ls.frame_windows(mel, Fraction(25), 30)]
    assert longer[-3:] == [101 - 16] * 3


def test_the_paste_matrix_maps_the_box_as_the_crop_was_cut():
    """The crop is cut by cv2.resize; pasting back through box_matrix lands every pixel where it came from."""
    frame = data.astronaut()
    box = (180, 80, 330, 230 + 10)
    crop = cv2.resize(frame[box[1]:box[3], box[0]:box[2]], (96, 96))
    warped = cv2.warpAffine(frame, ls.box_matrix(box, 96), (96, 96), flags=cv2.INTER_LINEAR)
    assert np.abs(crop.astype(int) - warped.astype(int))[4:-4, 4:-4].mean() < 6  # resize averages, warp samples


def test_the_face_box_is_padded_below_the_chin_and_clipped():
    from core.face import Face

    face = Face((10.0, 20.0, 110.0, 120.0), np.zeros((6, 2)), 0.9)
    assert ls.mouth_box(face, 640, 480) == (10, 20, 110, 130)
    assert ls.mouth_box(face, 640, 125) == (10, 20, 110, 125)
    assert ls.mouth_box(Face((0.0, 0.0, 5.0, 5.0), np.zeros((6, 2)), 0.9), 640, 480) is None


# ---------------------------------------------------------------- the whole pipeline


def test_a_short_talking_clip_speaks_the_whole_voice_looping_back_and_forth(tiny):
    clip = talking_clip(tiny / "talking.mp4", 2.0)  # 20 frames at 10 fps
    speech = voice(tiny / "voice.wav", 3.05)
    reports = []
    result = ls.lip_sync(str(clip), str(speech), tiny / "out.mp4", progress=lambda done, total: reports.append((done, total)))
    out = probe_video(result.path)
    assert result.frames == 31 == out.n_frames and out.fps == 10 and not result.photo
    assert result.frames_without_face == 0 and abs(result.speech_seconds - 3.05) < 0.01
    assert out.has_audio and abs(out.duration_s - 3.1) < 0.06
    assert abs(len(read_audio(result.path)) / 16000 - 3.1) < 0.05  # the voice, padded to the last frame
    assert reports[-1] == (31, 31) and [d for d, _ in reports] == sorted(d for d, _ in reports)
    written = [frame for frame in iter_video_frames(result.path)]
    assert [read_marker(f) for f in written] == [ls.back_and_forth(i, 20) for i in range(31)]
    # Wav2Lip (random here) redrew the mouth; the eyes and everything outside the face are the clip's.
    source = list(iter_video_frames(clip))  # as decoded: H.264 once more is all the rest may differ by
    mouth, eyes, corner = (slice(75, 100), slice(100, 135)), (slice(45, 60), slice(95, 140)), (slice(200, 256), slice(0, 60))
    first = written[0].astype(int)
    assert np.abs(first[mouth] - source[0][mouth]).mean() > 8
    assert np.abs(first[eyes] - source[0][eyes]).mean() < 4
    assert np.abs(first[corner] - source[0][corner]).mean() < 2.5


def test_a_photo_becomes_a_video_as_long_as_the_speech_with_no_seam(tiny):
    photo = data.astronaut()
    result = ls.lip_sync(png(tiny / "astronaut.png", photo), str(voice(tiny / "voice.wav", 1.0)), tiny / "photo.mp4")
    out = probe_video(result.path)
    assert result.photo and result.frames == 25 == out.n_frames and out.fps == ls.PHOTO_FPS
    assert (out.width, out.height) == (512, 512) and out.has_audio
    frame = next(iter(iter_video_frames(result.path))).astype(int)
    change = np.abs(frame - photo).mean(axis=2)
    assert change[MOUTH].mean() > 8  # the mouth is the network's
    box = ls.FaceFollower(512, 512).box(0, photo)
    x0, y0, x1, y1 = box
    outside = np.ones(change.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert change[outside].mean() < 2.5
    # No seam: along the box's lower edge the change fades over several rows instead of stepping.
    column = change[y1 - 12:y1 + 4, (x0 + x1) // 2 - 20:(x0 + x1) // 2 + 20].mean(axis=1)
    assert np.abs(np.diff(column)).max() < 0.5 * column.max() + 1


def test_frames_without_a_face_are_written_unchanged_and_counted(tiny):
    talking = talking_frames(10, 10)
    grey = [np.full_like(talking[0], 128)] * 5
    clip = write_video(talking[:5] + grey + talking[5:], tiny / "gap.mp4", 10)
    result = ls.lip_sync(str(clip), str(voice(tiny / "voice.wav", 1.5)), tiny / "gap-out.mp4")
    assert result.frames == 15 and result.frames_without_face == 5
    written = list(iter_video_frames(result.path))
    assert all(np.abs(written[i].astype(int) - 128).mean() < 2 for i in range(5, 10))


def test_inputs_are_refused_with_named_problems_before_a_model_loads(place, monkeypatch):
    speech = str(voice(place / "voice.wav", 1.0))
    with pytest.raises(NoFaceFound, match="No face was found in the photo"):
        ls.lip_sync(png(place / "coffee.png", data.coffee()), speech, place / "no.mp4")
    silent = place / "silent.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2",
                    str(silent)], check=True)
    face = png(place / "astronaut.png", data.astronaut())
    with pytest.raises(InputError, match="silent"):
        ls.lip_sync(face, str(silent), place / "no.mp4")
    monkeypatch.setattr(ls, "MAX_SPEECH_SECONDS", 0.5)
    with pytest.raises(LimitExceeded, match="the limit is 0.5 seconds"):
        ls.lip_sync(face, speech, place / "no.mp4")
    monkeypatch.setattr(ls, "MAX_VIDEO_SECONDS", 1)
    with pytest.raises(LimitExceeded, match="face video talking.mp4 is 2.0 seconds long; the limit is 1 seconds"):
        ls.lip_sync(str(talking_clip(place / "talking.mp4", 2.0)), speech, place / "no.mp4")
    with pytest.raises(InputError, match="Unknown model 'dub'"):
        ls.lip_sync(face, speech, place / "no.mp4", model="dub")
    assert not [key for key in runtime.models.loaded() if "wav2lip" in str(key)]  # only the face detector ran


def test_a_video_without_any_face_is_named(tiny):
    clip = write_video([np.full((64, 64, 3), 90, np.uint8)] * 5, tiny / "blank.mp4", 5)
    with pytest.raises(NoFaceFound, match="No face was found in any frame of the face video blank.mp4"):
        ls.lip_sync(str(clip), str(voice(tiny / "voice.wav", 1.0)), tiny / "no.mp4")
    assert not (tiny / "no.mp4").exists()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_typed_text_is_spoken_and_followed(tiny):
    workdir = tiny / "job"
    workdir.mkdir()
    result = ls.lip_sync_file(png(tiny / "astronaut.png", data.astronaut()), None, "Hello, I can talk.", "hq",
                              str(workdir / "out.mp4"))
    out = probe_video(result.path)
    assert 0.8 < result.speech_seconds < 4 and result.frames == ls.output_frames(result.speech_seconds, Fraction(25))
    assert out.n_frames == result.frames and out.has_audio and result.loaded_model
    with pytest.raises(InputError, match="not both"):
        ls.lip_sync_file(str(workdir / "out.mp4"), str(workdir / "out.mp4"), "Hi", "hq", str(workdir / "again.mp4"))


def test_missing_weights_are_named_at_once(place):
    face, speech = png(place / "astronaut.png", data.astronaut()), str(voice(place / "voice.wav", 1.0))
    with pytest.raises(gr.Error, match="wav2lip_hq.pdparams"):
        aio.run(tab.run_lip_sync(None, face, speech, None, None, "hq"))
    with pytest.raises(WeightsUnavailable):
        ls.lip_sync(face, speech, place / "out.mp4")


def test_the_tab_exposes_its_endpoint_answers_with_a_video_and_refuses_unclear_requests(tiny):
    api = tab.build().get_api_info()
    assert set(api["named_endpoints"]) == {"/lip_sync"} and ls.APP.endpoints == ("lip_sync",)
    face, speech = png(tiny / "astronaut.png", data.astronaut()), str(voice(tiny / "voice.wav", 0.6))
    video, download, status = aio.run(tab.run_lip_sync(None, face, None, speech, "", "wav2lip"))
    assert video == download and probe_video(video).n_frames == 15
    assert "15 frames for 0.6 s of speech" in status and "Done in" in status
    for args, message in [
        ((face, face, speech, None, None, "hq"), "a face as a video or as a photo, not both"),
        ((None, None, speech, None, None, "hq"), "Give a face first"),
        ((None, face, speech, speech, None, "hq"), "as a recording or as a file, not both"),
        ((None, face, None, None, "  ", "hq"), "Give some speech first"),
        ((None, face, speech, None, None, "dub"), "Unknown model 'dub'"),
    ]:
        with pytest.raises(gr.Error, match=message):
            aio.run(tab.run_lip_sync(*args))


MEMORY_CHILD = r"""
import dataclasses, json, resource, sys
sys.path.insert(0, sys.argv[1])
from core.runtime import init_paddle
init_paddle()
from core import weights
from core.apps import lip_sync as ls
from core.registry import WEIGHTS
real = weights.spec("wav2lip.hq")
with WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=json.loads(sys.argv[2])), real.aliases):
    result = ls.lip_sync(sys.argv[3], sys.argv[4], sys.argv[5])
print(json.dumps({"frames": result.frames, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_a_minute_of_speech_takes_no_more_memory_than_ten_seconds(tiny):
    """Frames stream through (the short clip's loop comes from disk): 60 s of speech peaks within 10 % of 10 s."""
    clip = talking_clip(tiny / "talking.mp4", 2.0, fps=5)
    peaks = {}
    for seconds in (10, 60):
        child = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(REPO), json.dumps(TINY), str(clip),
                                str(voice(tiny / f"voice-{seconds}.wav", seconds)), str(tiny / f"out-{seconds}.mp4")],
                               capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "2"})
        assert child.returncode == 0, child.stderr[-3000:]
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        assert measured["frames"] == seconds * 5
        peaks[seconds] = measured["peak_kib"]
    assert peaks[60] <= 1.10 * peaks[10], peaks
