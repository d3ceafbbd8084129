"""Face finding and LFW-style framing on a real photo (scikit-image's astronaut)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from trivision.faces import (LFW_EXPAND, MIN_FACE, Box, central_face, central_part, detect_faces, distinct_faces,
                             frame_face, frames_whole_photo, photo_face)

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) is not installed")

# Eileen Collins' face in skimage.data.astronaut() (512x512), by eye: x 180..270, y 70..160
FACE_CENTRE = (225, 115)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def face_box(astronaut) -> Box:
    boxes = detect_faces(astronaut)
    assert boxes, "no face found in the astronaut photo"
    return boxes[0]


def _centre(b: Box):
    return b.x + b.w / 2, b.y + b.h / 2


def test_finds_the_astronauts_face(astronaut, face_box):
    boxes = detect_faces(astronaut)
    assert len(boxes) == 1
    cx, cy = _centre(face_box)
    assert abs(cx - FACE_CENTRE[0]) < 20 and abs(cy - FACE_CENTRE[1]) < 20, face_box
    assert 70 <= face_box.w <= 130 and face_box.w == face_box.h


def test_tight_crop_of_just_the_face(astronaut, face_box):
    b = face_box
    crop = astronaut[b.y:b.y + b.h, b.x:b.x + b.w]
    boxes = detect_faces(crop)
    assert boxes, "a photo that is only a face must still be found"
    assert boxes[0].w >= 0.7 * b.w
    cx, cy = _centre(boxes[0])
    assert abs(cx - b.w / 2) < 0.2 * b.w and abs(cy - b.h / 2) < 0.2 * b.h


@pytest.mark.parametrize("canvas", [(400, 600), (1500, 2000), (3000, 4000)])  # larger ones are shrunk first
def test_small_face_in_a_large_blank_canvas(astronaut, face_box, canvas):
    k = MIN_FACE / face_box.w  # the face ends up MIN_FACE (40) px wide
    small = cv2.resize(astronaut, (round(512 * k), round(512 * k)), interpolation=cv2.INTER_AREA)
    photo = np.full((*canvas, 3), 255, np.uint8)
    y0, x0 = 120, 300
    photo[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    boxes = detect_faces(photo)
    assert boxes, f"a {MIN_FACE} px face on a {canvas} canvas was missed"
    # the cascade may also fire on the suit; the face must be among the boxes
    hits = [b for b in boxes if abs(_centre(b)[0] - (x0 + FACE_CENTRE[0] * k)) < 10
            and abs(_centre(b)[1] - (y0 + FACE_CENTRE[1] * k)) < 10]
    assert hits, f"no box on the face among {boxes}"
    assert 30 <= hits[0].w <= 55


def test_detection_from_several_threads_at_once(astronaut, face_box):
    """Evaluation frames photos in a thread pool; one cascade shared by threads broke OpenCV's scale
    bookkeeping (a cv2.error or a crash on tight face crops)."""
    b = face_box
    crops = [cv2.resize(astronaut[b.y:b.y + b.h, b.x:b.x + b.w], (s, s)) for s in range(56, 120, 2)] * 4
    alone = [detect_faces(c) for c in crops]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(detect_faces, crops))
    assert together == alone and sum(map(bool, alone)) > len(crops) // 2


def test_no_face_in_noise_or_flat_images():
    rng = np.random.default_rng(0)
    assert detect_faces(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)) == []
    assert detect_faces(np.zeros((1, 1, 3), np.uint8)) == []


def test_frame_is_a_square_of_expanded_side(astronaut, face_box):
    frame = frame_face(astronaut, face_box)
    side = round(face_box.w * LFW_EXPAND)
    assert frame.shape == (side, side, 3)
    assert abs(side / face_box.w - 2.08) < 0.02
    # inside the photo, the frame is the photo's own pixels around the box centre
    cx, cy = _centre(face_box)
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    np.testing.assert_array_equal(frame, astronaut[y0:y0 + side, x0:x0 + side])


def test_frame_pads_outside_the_photo():
    rgb = np.zeros((100, 120, 3), np.uint8)
    rgb[:, :, 0] = np.arange(120, dtype=np.uint8)[None, :]  # red ramp left to right
    rgb[:, :, 1] = np.arange(100, dtype=np.uint8)[:, None]  # green ramp top to bottom
    box = Box(0, 0, 40, 40)  # at the corner: the frame reaches 21 px past the top and left edges
    frame = frame_face(rgb, box)
    side = round(40 * LFW_EXPAND)
    assert frame.shape == (side, side, 3)
    pad = -round(20 - side / 2)  # how far the frame starts above and left of the photo
    # edge pixels repeat into the padding
    assert (frame[:pad, :, 1] == 0).all() and (frame[:, :pad, 0] == 0).all()
    np.testing.assert_array_equal(frame[pad:, pad:], rgb[:side - pad, :side - pad])
    # a box larger than the whole photo still gives a full square
    big = frame_face(rgb, Box(10, 10, 100, 80))
    assert big.shape == (208, 208, 3)


def test_frame_uses_the_longer_side():
    rgb = np.zeros((300, 300, 3), np.uint8)
    assert frame_face(rgb, Box(100, 100, 50, 30)).shape == (104, 104, 3)
    assert frame_face(rgb, Box(100, 100, 30, 50), expand=1.0).shape == (50, 50, 3)


def test_central_face():
    shape = (200, 200, 3)
    centre = Box(80, 80, 40, 40)
    corner = Box(0, 0, 60, 60)
    assert central_face([corner, centre], shape) == centre
    assert central_face([], shape) is None
    assert central_face([corner], shape) == corner


def test_gender_task_frames(astronaut, face_box):
    from types import SimpleNamespace

    from trivision.tasks import get_task
    task = get_task("gender")
    whole_frame = SimpleNamespace(meta={})  # a model trained on whole LFW frames
    frames = task.frames(astronaut, "detect", whole_frame)
    assert len(frames) == 1 and frames[0][0] == face_box and frames[0][1].shape[0] == frames[0][1].shape[1]
    (box, whole), = task.frames(astronaut, "as-is", whole_frame)
    assert box is None and whole is astronaut
    assert task.labelled_frame("detect", whole_frame)(np.zeros((50, 50, 3), np.uint8)) is None

    centre = SimpleNamespace(meta={"frame_crop": 0.6})  # a model trained on the frames' central 60%
    (_, framed), = task.frames(astronaut, "detect", centre)
    assert framed.shape[0] == round(max(face_box.w, face_box.h) * LFW_EXPAND * 0.6)
    (_, part), = task.frames(astronaut, "as-is", centre)
    assert part.shape[:2] == (round(astronaut.shape[0] * 0.6), round(astronaut.shape[1] * 0.6))
    assert np.array_equal(part, central_part(astronaut, 0.6))
    assert np.array_equal(task.labelled_frame("as-is", centre)(astronaut), part)


def test_a_photo_framed_like_lfw_is_recognised_as_its_own_frame():
    side = 250
    box = Box(65, 65, 120, 120)  # the frame around it, 2.08 x 120 = 250, is the photo
    assert frames_whole_photo(box, (side, side, 3))
    assert frames_whole_photo(Box(60, 70, 130, 130), (side, side, 3))  # the detector's jitter: 8% larger, shifted
    assert not frames_whole_photo(Box(50, 50, 150, 150), (side, side, 3))  # a frame 25% larger: a looser photo
    assert not frames_whole_photo(Box(90, 65, 120, 120), (side, side, 3))  # off centre by 10% of the side
    assert not frames_whole_photo(Box(65, 65, 120, 120), (side, 2 * side, 3))  # not square: a wider scene
    assert not frames_whole_photo(Box(65, 65, 120, 120), (600, 600, 3))  # a small face in a larger photo


def test_the_photos_face_is_one_that_frames_it_before_the_central_one():
    shape = (125, 125, 3)
    true_face, hair = Box(36, 35, 55, 55), Box(41, 3, 70, 70)  # validation row 27's boxes: a false one over the hair
    assert central_face([hair, true_face], shape) == hair  # the larger false box outweighs the centred face...
    assert photo_face([hair, true_face], shape) == true_face  # ...but only the true face's frame is the photo
    small = Box(80, 80, 20, 20)
    assert photo_face([small, hair], shape) == central_face([small, hair], shape)  # none frames it: as before
    assert photo_face([], shape) is None


def test_evaluation_takes_the_face_that_frames_the_photo(monkeypatch):
    from types import SimpleNamespace

    import trivision.tasks.gender as gender
    photo = np.random.default_rng(0).integers(0, 256, (125, 125, 3), dtype=np.uint8)
    monkeypatch.setattr(gender, "detect_faces", lambda rgb: [Box(41, 3, 70, 70), Box(36, 35, 55, 55)])
    view = gender.GenderTask().labelled_frame("detect", SimpleNamespace(meta={"frame_crop": 0.6}))(photo)
    assert np.array_equal(view, central_part(photo, 0.6))  # the photo whole, not a frame around the hair box


def test_a_second_box_over_the_same_head_of_a_portrait_is_not_a_face(monkeypatch):
    from types import SimpleNamespace

    import trivision.tasks.gender as gender
    shape = (125, 125, 3)
    face, hair, beside = Box(36, 35, 55, 55), Box(41, 3, 70, 70), Box(95, 80, 25, 25)
    assert distinct_faces([hair, face, beside], shape) == [face, beside]  # the hair box's centre is in the face's
    assert distinct_faces([hair, beside], shape) == [hair, beside]  # no box frames the photo: all kept
    photo = np.zeros(shape, np.uint8)
    monkeypatch.setattr(gender, "detect_faces", lambda rgb: [hair, face])
    frames = gender.GenderTask().frames(photo, "detect", SimpleNamespace(meta={}))
    assert [box for box, _ in frames] == [face]


def test_detect_framing_uses_an_lfw_framed_photo_whole(astronaut, face_box):
    from types import SimpleNamespace

    from trivision.tasks import get_task
    task = get_task("gender")
    lfw_like = np.ascontiguousarray(frame_face(astronaut, face_box))  # the astronaut framed as LFW frames faces
    box = central_face(detect_faces(lfw_like), lfw_like.shape)
    assert box is not None and frames_whole_photo(box, lfw_like.shape)
    centre = SimpleNamespace(meta={"frame_crop": 0.6})
    (found, view), = task.frames(lfw_like, "detect", centre)
    assert found == box  # the detector's box is still reported...
    assert np.array_equal(view, central_part(lfw_like, 0.6))  # ...but the photo is its own frame, as as-is sees it
    assert np.array_equal(task.labelled_frame("detect", centre)(lfw_like), view)
    (_, cut), = task.frames(astronaut, "detect", centre)  # the whole astronaut photo is no LFW frame: cut as before
    assert cut.shape[0] == round(max(face_box.w, face_box.h) * LFW_EXPAND * 0.6)


def test_central_part():
    img = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    assert central_part(img, 1.0) is img
    part = central_part(img, 0.5)
    assert part.shape == (5, 10, 3) and np.array_equal(part, img[2:7, 5:15])


def test_finds_faces_in_lfw_frames():
    import csv

    from conftest import shared_dataset
    from trivision.data.images import decode_image
    root = shared_dataset("lfw-gender")
    with open(root / "labels.csv", newline="") as f:
        rows = [r for i, r in enumerate(csv.DictReader(f)) if i % 1000 == 0][:10]
    found = 0
    for r in rows:
        rgb = decode_image(root / r["path"])
        box = central_face(detect_faces(rgb), rgb.shape)
        if box is None:
            continue
        found += 1
        # an LFW frame is about its central face, about 1/2.08 of the frame's side
        side = rgb.shape[1]
        assert abs(box.x + box.w / 2 - side / 2) < 0.15 * side
        assert 0.35 * side < box.w < 0.65 * side
    assert found >= 8, f"faces found in only {found} of {len(rows)} LFW frames"
