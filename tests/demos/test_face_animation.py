"""Face animation: the application (core.apps.face_animation) and its tab (demos.face_animation).

First Order Motion runs as a tiny variant (8-channel blocks) registered under the real checkpoint
names for the length of a test, from checkpoints written in PaddleGAN's published two-network
layout; faces are found by BlazeFace with its real weights, imported offline from the mediapipe
wheel into the test's cache.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import gradio as gr
import matplotlib
import numpy as np
import paddle
import pytest
from PIL import Image
from skimage import data

from core import face as faces
from core import runtime, weights
from core.apps import face_animation as fa
from core.errors import LimitExceeded, NoFaceFound, WeightsUnavailable
from core.media import iter_video_frames, probe_video, write_video
from core.registry import WEIGHTS
from demos import face_animation as tab
from tests import aio

TINY = dict(kp_block_expansion=8, kp_max_features=32, kp_num_blocks=3, block_expansion=8, max_features=32,
            num_bottleneck_blocks=2, motion_block_expansion=8, motion_max_features=32, motion_num_blocks=3)
REPO = Path(__file__).resolve().parents[2]

try:
    importlib.metadata.distribution("mediapipe")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed", allow_module_level=True)


def write_tiny_checkpoints(folder: Path) -> None:
    """Both models as tiny random networks, saved as PaddleGAN saves them: {'generator': ..., 'kp_detector': ...}."""
    for seed, choice in enumerate(fa.MODELS.values()):
        spec = weights.spec(choice.weights)
        paddle.seed(seed)
        state = weights.build_network(spec).state_dict()
        nested = {prefix: {name[len(prefix) + 1:]: value for name, value in state.items() if name.startswith(prefix + ".")}
                  for prefix in spec.prefix_keys}
        paddle.save(nested, str(folder / spec.filename))


@pytest.fixture
def tiny(place, registered):
    for choice in fa.MODELS.values():
        real = weights.spec(choice.weights)
        registered(WEIGHTS, real.name, dataclasses.replace(real, net_overrides=TINY), real.aliases)
    write_tiny_checkpoints(place / "weights")
    return place


@pytest.fixture(scope="module")
def short_driving(tmp_path_factory) -> str:
    """The first second of the example driving video (12 frames, with its sound)."""
    from tests.clips import ffmpeg

    path = tmp_path_factory.mktemp("driving") / "short.mp4"
    ffmpeg("-i", str(REPO / fa.EXAMPLE_DRIVING), "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    return str(path)


def grace_hopper() -> np.ndarray:
    return np.asarray(Image.open(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")).convert("RGB"))


def png(path: Path, picture: np.ndarray) -> str:
    Image.fromarray(picture).save(path)
    return str(path)


def turned_face_video(path: Path, angles, fps: int = 5) -> Path:
    """The astronaut's head turned by each angle in turn (one frame each), 256x256, silent."""
    picture = data.astronaut()
    frames = []
    for angle in angles:
        matrix = cv2.getRotationMatrix2D((225, 130), angle, 1.0)
        moved = cv2.warpAffine(picture, matrix, (512, 512), borderMode=cv2.BORDER_REPLICATE)
        frames.append(cv2.resize(moved[0:384, 32:416], (256, 256), interpolation=cv2.INTER_AREA))
    return write_video(frames, path, fps)


def test_the_tab_exposes_exactly_the_declared_endpoints():
    api = tab.build().get_api_info()
    assert set(api["named_endpoints"]) == {f"/{e}" for e in fa.APP.endpoints} == {"/face_animate", "/face_preview"}


def test_the_photo_moves_with_the_driving_video_and_keeps_its_sound_and_rate(tiny):
    reports = []
    result = fa.animate(str(REPO / "assets/examples/astronaut.jpg"), str(REPO / fa.EXAMPLE_DRIVING), tiny / "out.mp4",
                        progress=lambda done, total: reports.append((done, total)))
    driving, out = probe_video(REPO / fa.EXAMPLE_DRIVING), probe_video(result.path)
    assert result.frames == driving.n_frames == out.n_frames and result.faces == 1 and result.initial_frame == 0
    assert (out.width, out.height) == (512, 512) and out.fps == driving.fps and out.has_audio
    assert abs(out.duration_s - driving.duration_s) < 0.15
    assert reports[-1][0] == driving.n_frames and [d for d, _ in reports] == sorted(d for d, _ in reports)
    # Outside the face's square the photo is left as it was; inside, the network drew the face.
    photo = np.asarray(Image.open(REPO / "assets/examples/astronaut.jpg").convert("RGB")).astype(int)
    first = next(iter(iter_video_frames(result.path))).astype(int)
    assert np.abs(first[400:, :100] - photo[400:, :100]).mean() < 4  # H.264 only
    assert np.abs(first[90:170, 180:270] - photo[90:170, 180:270]).mean() > 10


def test_the_fast_path_finds_the_same_keypoints_and_draws_the_same_frames_as_dygraph(tiny):
    fast, slow = fa.load("vox"), fa.load("vox", engine="dygraph")
    if runtime.fast_path_kinds():
        assert fast[0].kind != "dygraph" and fast[1].kind != "dygraph"
    assert slow[0].kind == slow[1].kind == "dygraph"
    found = faces.detect_faces(data.astronaut())[0]
    crop = fa.face_crop(found).cut(data.astronaut())
    kp_fast, kp_slow = fa.keypoints(fast, [crop]), fa.keypoints(slow, [crop])
    np.testing.assert_allclose(kp_fast.value, kp_slow.value, atol=1e-5)
    np.testing.assert_allclose(kp_fast.jacobian, kp_slow.jacobian, atol=1e-4)
    moved = type(kp_slow)(np.concatenate([kp_slow.value, kp_slow.value + 0.05]),
                          np.concatenate([kp_slow.jacobian, kp_slow.jacobian]))
    source = crop[None].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    a, b = fa.animate_crop(fast, source, kp_slow, moved), fa.animate_crop(slow, source, kp_slow, moved)
    assert a.shape == (2, fa.SIDE, fa.SIDE, 3) and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_several_people_are_each_animated_and_the_whole_photo_without_the_crop(tiny, short_driving):
    two = np.zeros((600, 1024, 3), np.uint8)
    two[:512, :512] = data.astronaut()
    two[:, 512:] = grace_hopper()
    source = png(tiny / "two.png", two)
    driving = short_driving
    assert fa.animate(source, driving, tiny / "many.mp4", multi_person=True).faces == 2
    assert fa.animate(source, driving, tiny / "one.mp4").faces == 1
    whole = fa.animate(source, driving, tiny / "whole.mp4", auto_crop=False)
    assert whole.faces == 0 and probe_video(whole.path).width == 1024


def test_the_best_frame_is_the_one_posed_like_the_photo(tiny):
    angles = [18, 12, 6, 0, -6, -12]
    driving = turned_face_video(tiny / "turning.mp4", angles)
    crop, _ = fa.driving_crop(str(driving), True, probe_video(driving))
    found = faces.detect_faces(data.astronaut())[0]
    assert fa.best_frame(str(driving), crop, found) == angles.index(0)
    result = fa.animate(png(tiny / "astronaut.png", data.astronaut()), str(driving), tiny / "out.mp4", find_best_frame=True)
    assert result.initial_frame == angles.index(0)


def test_relative_and_absolute_motion_give_different_videos(tiny, short_driving):
    source, driving = str(REPO / "assets/examples/astronaut.jpg"), short_driving
    relative = fa.animate(source, driving, tiny / "relative.mp4", relative=True)
    absolute = fa.animate(source, driving, tiny / "absolute.mp4", relative=False, adapt_scale=False)
    a, b = (next(iter(iter_video_frames(r.path))).astype(int) for r in (relative, absolute))
    assert np.abs(a - b).max() > 0


def test_no_face_in_the_photo_or_the_video_is_named(tiny):
    with pytest.raises(NoFaceFound, match="No face was found in the source photo"):
        fa.animate(png(tiny / "coffee.png", data.coffee()), str(REPO / fa.EXAMPLE_DRIVING), tiny / "no.mp4")
    blank = write_video([np.full((64, 64, 3), 128, np.uint8)] * 5, tiny / "blank.mp4", 5)
    with pytest.raises(NoFaceFound, match="first 30 frames of the driving video"):
        fa.animate(str(REPO / "assets/examples/astronaut.jpg"), str(blank), tiny / "no.mp4")


def test_a_long_video_is_refused_before_a_model_loads(place, monkeypatch):
    monkeypatch.setattr(fa, "MAX_VIDEO_SECONDS", 2)
    with pytest.raises(LimitExceeded, match="4.0 seconds long; the limit is 2 seconds"):
        fa.animate(str(REPO / "assets/examples/astronaut.jpg"), str(REPO / fa.EXAMPLE_DRIVING), place / "long.mp4")
    assert runtime.models.loaded() == []


def test_missing_weights_are_named_at_once_and_the_face_preview_still_works(place):
    source, driving = str(REPO / "assets/examples/astronaut.jpg"), str(REPO / fa.EXAMPLE_DRIVING)
    with pytest.raises(gr.Error, match="vox-cpk.pdparams"):
        aio.run(tab.animate(source, driving, "vox", True, True, False, True, False))
    with pytest.raises(WeightsUnavailable):
        fa.animate(source, driving, place / "out.mp4")
    path, status = aio.run(tab.preview(source, True, False))
    assert "1 face found" in status
    with Image.open(path) as marked:
        assert marked.size == (512, 512)


def test_the_tab_answers_with_a_video_and_refuses_bad_options(tiny):
    source, driving = str(REPO / "assets/examples/astronaut.jpg"), str(REPO / fa.EXAMPLE_DRIVING)
    video, download, status = aio.run(tab.animate(source, driving, "vox_mobile", True, True, False, True, False))
    assert video == download and probe_video(video).n_frames == 48
    assert "48 frames, 1 face" in status and "Done in" in status
    with pytest.raises(gr.Error, match="Relative motion must be true or false"):
        aio.run(tab.animate(source, driving, "vox", "yes", True, False, True, False))
    with pytest.raises(gr.Error, match="Unknown model 'monet'"):
        aio.run(tab.animate(source, driving, "monet", True, True, False, True, False))
    with pytest.raises(gr.Error, match="driving video first"):
        aio.run(tab.animate(source, None, "vox", True, True, False, True, False))


MEMORY_CHILD = r"""
import dataclasses, json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from core.runtime import init_paddle
init_paddle()
from core import weights
from core.apps import face_animation as fa
from core.registry import WEIGHTS
tiny = json.loads(sys.argv[2])
real = weights.spec("first_order_motion.vox")
with WEIGHTS.scoped(real.name, dataclasses.replace(real, net_overrides=tiny), real.aliases):
    fa.MAX_VIDEO_SECONDS = 120
    result = fa.animate(sys.argv[1] + "/assets/examples/astronaut.jpg", sys.argv[3], sys.argv[4])
print(json.dumps({"frames": result.frames, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_a_minute_of_driving_video_takes_no_more_memory_than_ten_seconds(tiny):
    """Frames stream through: the peak memory of a 60 s animation is within 10 % of a 10 s one."""
    from tests.clips import ffmpeg

    peaks = {}
    for seconds in (10, 60):
        driving = tiny / f"driving-{seconds}.mp4"
        # The example's moving face, looped, at 2 frames a second: 20 and 120 frames.
        ffmpeg("-stream_loop", "-1", "-i", str(REPO / fa.EXAMPLE_DRIVING), "-t", str(seconds), "-r", "2",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(driving))
        child = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(REPO), json.dumps(TINY), str(driving),
                                str(tiny / f"out-{seconds}.mp4")], capture_output=True, text=True, timeout=600,
                               env={**os.environ, "OMP_NUM_THREADS": "2"})
        assert child.returncode == 0, child.stderr[-3000:]
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        assert measured["frames"] == seconds * 2
        peaks[seconds] = measured["peak_kib"]
    assert peaks[60] <= 1.10 * peaks[10], peaks
