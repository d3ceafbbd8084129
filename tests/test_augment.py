"""The lab's augmentation, batched: identity when off, bounded geometry, values in [0, 1], random per sample."""
from __future__ import annotations

import pytest
import torch

from trivision.data.augment import AugmentConfig, augment_batch, build_augment
from trivision.errors import TrivisionError

SIDE = 64


def _asymmetric_batch(n=8) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (3, SIDE, SIDE), generator=g, dtype=torch.uint8)
    img[:, 10:30, 5:20] = 255  # a bright block off-centre, so flips and shifts change the picture
    return img[None].repeat(n, 1, 1, 1)


def _dot(side=SIDE, at=None) -> torch.Tensor:
    """A black image with one bright 3x3 dot (at the centre unless `at`)."""
    y, x = at or (side // 2, side // 2)
    img = torch.zeros((3, side, side), dtype=torch.uint8)
    img[:, y - 1:y + 2, x - 1:x + 2] = 255
    return img


def _centroids(x: torch.Tensor) -> torch.Tensor:
    """(N, 2) brightness-weighted (y, x) centre of each image in a float batch."""
    w = x.mean(1)  # N, H, W
    h, wd = w.shape[-2:]
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(wd, dtype=torch.float32)[None, None, :]
    total = w.sum((1, 2)).clamp_min(1e-6)
    return torch.stack([(w * ys).sum((1, 2)) / total, (w * xs).sum((1, 2)) / total], dim=1)


def test_disabled_is_identity():
    batch = _asymmetric_batch()
    aug = build_augment(AugmentConfig(enabled=False))
    assert isinstance(aug, torch.nn.Identity)
    out = augment_batch(aug, batch)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, batch.float() / 255)


def test_hflip_only_flips_some_and_leaves_the_rest():
    torch.manual_seed(0)
    batch = _asymmetric_batch(32)
    aug = build_augment(AugmentConfig(shift=0.0, rotation=0.0, zoom=(1.0, 1.0), hflip=True))
    out = augment_batch(aug, batch)
    x = batch.float() / 255
    same = [(o - x[0]).abs().max() < 1e-4 for o in out]
    flipped = [(o - x[0].flip(-1)).abs().max() < 1e-4 for o in out]
    assert all(s or f for s, f in zip(same, flipped)), "hflip-only must give the image or its mirror"
    assert 4 <= sum(flipped) <= 28, f"{sum(flipped)} of 32 flipped"


@pytest.mark.parametrize("cfg", [
    AugmentConfig(),
    AugmentConfig(shift=0.0, rotation=45.0, zoom=(1.0, 1.0), hflip=False),
    AugmentConfig(shift=0.3, rotation=0.0, zoom=(1.0, 1.0), hflip=False),
    AugmentConfig(shift=0.0, rotation=0.0, zoom=(0.8, 1.5), hflip=False),
    AugmentConfig(shift=0.0, rotation=0.0, zoom=(1.0, 1.0), hflip=True),
])
def test_outputs_stay_in_range_and_shape(cfg):
    torch.manual_seed(1)
    batch = _asymmetric_batch(6)
    batch[:, :, :4] = 255
    batch[:, :, -4:] = 0
    out = augment_batch(build_augment(cfg), batch)
    assert out.shape == batch.shape and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.isfinite(out).all()


def test_random_per_sample():
    torch.manual_seed(2)
    out = augment_batch(build_augment(AugmentConfig()), _asymmetric_batch(8))
    for i in range(8):
        for j in range(i + 1, 8):
            assert (out[i] - out[j]).abs().max() > 0.05, f"samples {i} and {j} got the same transform"


def test_seeded_runs_repeat():
    aug = build_augment(AugmentConfig())
    torch.manual_seed(3)
    a = augment_batch(aug, _asymmetric_batch(4))
    torch.manual_seed(3)
    b = augment_batch(aug, _asymmetric_batch(4))
    torch.testing.assert_close(a, b)


def test_shift_alone_moves_the_centre_dot_at_most_the_shift():
    torch.manual_seed(4)
    batch = _dot()[None].repeat(200, 1, 1, 1)
    out = augment_batch(build_augment(AugmentConfig(shift=0.2, rotation=0, zoom=(1, 1), hflip=False)), batch)
    moved = _centroids(out) - _centroids(batch.float() / 255)
    limit = 0.2 * SIDE + 1.0
    assert moved.abs().max() <= limit, f"dot moved {moved.abs().max():.1f}px, limit {limit:.1f}"
    # and the shift really is used, both ways, on both axes
    for axis in (0, 1):
        assert moved[:, axis].max() > 0.12 * SIDE and moved[:, axis].min() < -0.12 * SIDE


def test_full_default_augment_displacement_is_bounded_by_its_geometry():
    """Each point p moves to c + s*R(p - c) + t: |move| <= (1 - s_min + 2 sin(theta/2)) |p - c| + |t|."""
    import math
    cfg = AugmentConfig()  # shift 0.2, rotation 20, zoom 1..1.2, hflip
    torch.manual_seed(5)
    c = (SIDE - 1) / 2
    for at in [(SIDE // 2, SIDE // 2), (20, 44), (40, 24)]:
        batch = _dot(at=at)[None].repeat(100, 1, 1, 1)
        out = augment_batch(build_augment(cfg), batch)
        before = _centroids(batch.float() / 255)[0]
        after = _centroids(out)
        # a horizontal flip mirrors the starting point: compare with the nearer of the two
        mirrored = torch.stack([before[0], 2 * c - before[1]])
        moved = torch.minimum((after - before).norm(dim=1), (after - mirrored).norm(dim=1))
        r = float((before - torch.tensor([c, c])).norm())
        bound = (1 - 1 / cfg.zoom[1] + 2 * math.sin(math.radians(cfg.rotation) / 2)) * r \
            + math.hypot(cfg.shift * SIDE, cfg.shift * SIDE) + 1.5
        assert moved.max() <= bound, f"dot at {at} moved {moved.max():.1f}px > {bound:.1f}px"


def test_zoom_above_one_shows_more_of_the_scene():
    # Keras semantics: zoom 2 halves the picture (a centred square's area drops to about a quarter)
    img = torch.zeros((1, 3, SIDE, SIDE), dtype=torch.uint8)
    img[:, :, 16:48, 16:48] = 255
    out = augment_batch(build_augment(AugmentConfig(shift=0, rotation=0, zoom=(2.0, 2.0), hflip=False)), img)
    area = float((out.mean(1) > 0.5).float().sum()) / (32 * 32)
    assert 0.2 <= area <= 0.3, area


def test_bad_zoom_range():
    with pytest.raises(TrivisionError, match="zoom"):
        build_augment(AugmentConfig(zoom=(1.2, 1.0)))
    with pytest.raises(TrivisionError, match="zoom"):
        build_augment(AugmentConfig(zoom=(0.0, 1.0)))


def test_crop_gives_random_windows_of_the_asked_side():
    batch = torch.arange(64 * 64, dtype=torch.float32).reshape(1, 1, 64, 64).repeat(8, 3, 1, 1)
    aug = build_augment(AugmentConfig(shift=0.0, rotation=0.0, zoom=(1.0, 1.0), hflip=False, crop=32))
    out = aug(batch)
    assert out.shape == (8, 3, 32, 32)
    corners = {float(v) for v in out[:, 0, 0, 0]}
    assert len(corners) > 1  # each sample has its own window
    for img in out[:, 0]:  # a window of the original, not a resampled picture
        y, x = divmod(int(img[0, 0]), 64)
        assert torch.equal(img, batch[0, 0, y:y + 32, x:x + 32])


def test_negative_crop_is_refused():
    with pytest.raises(TrivisionError, match="crop"):
        build_augment(AugmentConfig(crop=-1))


def test_erasing_blacks_out_one_box_in_some_images():
    torch.manual_seed(0)
    batch = torch.full((32, 3, SIDE, SIDE), 200, dtype=torch.uint8)
    out = augment_batch(build_augment(AugmentConfig(shift=0.0, rotation=0.0, zoom=(1.0, 1.0), hflip=False,
                                                    erasing=0.5)), batch)
    erased = (out == 0).all(1)  # (N, H, W): pixels blacked out in every channel
    hit = [bool(e.any()) for e in erased]
    assert 4 <= sum(hit) <= 28, f"{sum(hit)} of 32 erased"
    for e, img in zip(erased, out):
        if e.any():  # one axis-aligned box, everything else untouched
            ys, xs = e.nonzero(as_tuple=True)
            assert e[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
            assert e.float().mean() < 0.5
        torch.testing.assert_close(img[:, ~e], torch.full_like(img[:, ~e], 200 / 255))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_erasing_must_be_a_probability(p):
    with pytest.raises(TrivisionError, match="augment.erasing"):
        build_augment(AugmentConfig(erasing=p))


def test_a_crop_window_as_large_as_the_image_is_the_whole_image():
    cfg = AugmentConfig(shift=0.0, rotation=0.0, zoom=(1.0, 1.0), hflip=False, crop=32)
    batch = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    assert augment_batch(build_augment(cfg, image_size=48), batch).shape[-2:] == (32, 32)
    small = batch[..., :32, :32]
    torch.testing.assert_close(augment_batch(build_augment(cfg, image_size=32), small), small.float() / 255)
    cfg.crop = 64  # larger than the image (a quick run at a small image size): no crop either
    torch.testing.assert_close(augment_batch(build_augment(cfg, image_size=32), small), small.float() / 255)
