"""Find faces in any photo and frame each one the way LFW frames its faces.

LFW's frames come from a Viola-Jones detection whose box was enlarged 2.2 times about its centre and
resized to 250x250. We run OpenCV's Viola-Jones cascade and cut the same frame, so a selfie, a group
photo or a tight face crop reaches the model looking like its training data. OpenCV's boxes are a
little larger than the original detector's: on LFW frames the frame side is 2.08 times its box
(median of 300 random frames, `bench/face_framing.py`), so that is the factor we use.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

LFW_EXPAND = 2.08     # frame side / OpenCV box side on LFW frames (see module docstring)
MIN_FACE = 40         # smallest face, in pixels of the original photo, that must be found
# On LFW frames the frame implied by the cascade's box is 0.92-1.12 of the photo's side (5-95%) and its centre
# within 2.5% of the side of the photo's centre: a frame that close is the photo's own, cut again only by jitter
SNAP_SCALE, SNAP_SHIFT, SNAP_SQUARE = 0.15, 0.05, 0.10
_CASCADE_SIDE = 24    # the cascade's own window: faces are scaled so MIN_FACE stays above it
_local = threading.local()  # one set of cascades per thread: detectMultiScale on a shared one is not thread-safe


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascades = _local.__dict__.setdefault("cascades", {})
    if name not in cascades:
        cascades[name] = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    return cascades[name]


def detect_faces(rgb: np.ndarray, min_face: int = MIN_FACE) -> list[Box]:
    """Boxes of the faces in an RGB photo, largest first, in the photo's own pixel coordinates."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    # large photos are shrunk for speed, but never so far that a min_face face nears the cascade's
    # 24 px window: at the window's edge a 40 px face was missed, at 1.25x the window it is found
    scale = min(1.0, max(1.25 * _CASCADE_SIDE / min_face, 1000 / max(h, w)))
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    # a photo that is nothing but a face gives the cascade no margin: pad it so the whole face fits a window
    # (by the short side, which bounds any face: padding a 20000x20 strip by its long side cost 20 s)
    pad = min(grey.shape) // 4 + 2
    grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # no global histogram equalization: the cascade normalizes each window's contrast itself, and on a photo
    # that is mostly flat background equalization crushes a small face's contrast until it is missed
    min_side = max(_CASCADE_SIDE, int(min_face * scale * 0.9))
    found = []
    for name in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"):
        found = _cascade(name).detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                                minSize=(min_side, min_side))
        if len(found):
            break
    boxes = []
    for (x, y, bw, bh) in found:
        x0, y0 = (x - pad) / scale, (y - pad) / scale
        boxes.append(Box(round(x0), round(y0), round(bw / scale), round(bh / scale)))
    boxes.sort(key=lambda b: -b.w * b.h)
    return boxes


def frame_face(rgb: np.ndarray, box: Box, expand: float = LFW_EXPAND) -> np.ndarray:
    """The square region around `box` that LFW would have kept, edges repeated where it leaves the photo."""
    side = max(1, round(max(box.w, box.h) * expand))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    h, w = rgb.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + side - h), max(0, x0 + side - w)
    crop = rgb[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
    if top or left or bottom or right:
        crop = cv2.copyMakeBorder(np.ascontiguousarray(crop), top, bottom, left, right, cv2.BORDER_REPLICATE)
    return crop


def frames_whole_photo(box: Box, shape, expand: float = LFW_EXPAND) -> bool:
    """Whether the LFW frame around `box` is the photo itself, but for the detector's jitter: a nearly square photo
    whose face's frame is within SNAP_SCALE of its side and SNAP_SHIFT of its centre is framed like LFW already."""
    h, w = shape[:2]
    side = max(box.w, box.h) * expand
    return (abs(h / w - 1) <= SNAP_SQUARE and abs(side / max(h, w) - 1) <= SNAP_SCALE
            and abs(box.x + box.w / 2 - w / 2) <= SNAP_SHIFT * w and abs(box.y + box.h / 2 - h / 2) <= SNAP_SHIFT * h)


def central_part(rgb: np.ndarray, fraction: float) -> np.ndarray:
    """The centred square-ish region of `fraction` of the photo's height and width (1: the whole photo)."""
    if fraction == 1:
        return rgb
    h, w = rgb.shape[:2]
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    top, left = (h - ch) // 2, (w - cw) // 2
    return rgb[top:top + ch, left:left + cw]


def photo_face(boxes: list[Box], shape) -> Box | None:
    """The face a photo of one person is about: one whose LFW frame is the photo itself (frames_whole_photo),
    else the central one. A large false box over hair and forehead can outweigh the true face in central_face."""
    return next((b for b in boxes if frames_whole_photo(b, shape)), None) or central_face(boxes, shape)


def distinct_faces(boxes: list[Box], shape) -> list[Box]:
    """`boxes` less those whose centre lies inside a box that frames the photo (frames_whole_photo): in a portrait
    framed like LFW, a second box over the same head (hair and forehead) is the detector's mistake, not a face."""
    own = [b for b in boxes if frames_whole_photo(b, shape)]

    def inside(b: Box, o: Box) -> bool:
        return o.x <= b.x + b.w / 2 <= o.x + o.w and o.y <= b.y + b.h / 2 <= o.y + o.h
    return [b for b in boxes if b in own or not any(inside(b, o) for o in own)]


def central_face(boxes: list[Box], shape) -> Box | None:
    """Of several faces, the one an already-framed photo is about: the one nearest the centre, weighted by size."""
    if not boxes:
        return None
    h, w = shape[:2]

    def cost(b: Box) -> float:
        d = np.hypot(b.x + b.w / 2 - w / 2, b.y + b.h / 2 - h / 2)
        return d / max(h, w) - 0.5 * (b.w * b.h) / (h * w) ** 0.5 / max(h, w) ** 0.5
    return min(boxes, key=cost)
