"""The safe decoder: every mode to HxWx3 uint8 RGB, EXIF orientation, pixel limit, one clear error per bad file."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import save_image
from trivision.data.images import MAX_PIXELS, decode_image, is_grey
from trivision.data.loading import resize
from trivision.errors import BadImage, TrivisionError


# --- decoding correctness -----------------------------------------------------------------------

def test_rgb_png_round_trip(tmp_path, rgb_noise):
    path = tmp_path / "a.png"
    Image.fromarray(rgb_noise).save(path)
    out = decode_image(path)
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    np.testing.assert_array_equal(out, rgb_noise)


def test_sources_path_str_bytes_pil_array_agree(tmp_path, rgb_noise):
    path = tmp_path / "a.png"
    Image.fromarray(rgb_noise).save(path)
    for source in (path, str(path), path.read_bytes(), Image.open(path), rgb_noise):
        np.testing.assert_array_equal(decode_image(source), rgb_noise)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    out = decode_image(path)
    assert out.shape == (8, 64, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255
    mid = out[0, 32, 0]
    assert 120 <= mid <= 136, f"mid-range 16-bit grey became {mid} (clipped instead of scaled?)"
    assert np.all(np.diff(out[0, :, 0].astype(int)) >= 0), "the ramp should stay monotonic"
    assert is_grey(out)


def test_rgba_png_composited_on_white(tmp_path):
    arr = np.zeros((10, 10, 4), np.uint8)
    arr[:, :5] = (255, 0, 0, 255)   # opaque red left half
    arr[:, 5:] = (0, 0, 255, 0)     # fully transparent right half
    path = tmp_path / "alpha.png"
    Image.fromarray(arr, "RGBA").save(path)
    out = decode_image(path)
    assert out.shape == (10, 10, 3)
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 9], [255, 255, 255])


def test_palette_gif(tmp_path):
    img = Image.new("RGB", (20, 10), (0, 0, 255))
    img.paste((255, 255, 0), (10, 0, 20, 10))
    path = tmp_path / "p.gif"
    img.convert("P", palette=Image.ADAPTIVE, colors=4).save(path)
    assert Image.open(path).mode == "P"
    out = decode_image(path)
    assert out.shape == (10, 20, 3)
    np.testing.assert_allclose(out[5, 2], [0, 0, 255], atol=8)
    np.testing.assert_allclose(out[5, 15], [255, 255, 0], atol=8)


def test_grey_jpeg_becomes_three_equal_channels(tmp_path):
    path = save_image(tmp_path / "g.jpg", (30, 20), 90, mode="L")
    out = decode_image(path)
    assert out.shape == (20, 30, 3)
    assert is_grey(out)
    assert abs(int(out.mean()) - 90) <= 3


def test_cmyk_jpeg_converted_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red in CMYK
    assert Image.open(path).mode == "CMYK"
    out = decode_image(path)
    assert out.shape == (16, 16, 3)
    r, g, b = out[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60, f"CMYK red decoded as {(r, g, b)}"


@pytest.mark.parametrize("orientation, shape", [(1, (20, 40, 3)), (3, (20, 40, 3)), (6, (40, 20, 3)), (8, (40, 20, 3))])
def test_exif_orientation_applied(tmp_path, orientation, shape):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # a white band on the stored image's left edge
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    img.save(path, exif=exif, quality=95)
    out = decode_image(path)
    assert out.shape == shape
    if orientation == 6:  # rotated 90 degrees clockwise for display: the left edge becomes the top
        assert out[:8].mean() > 200 and out[-20:].mean() < 50
    if orientation == 3:  # upside down: the left band ends up on the right
        assert out[:, -8:].mean() > 200 and out[:, :20].mean() < 50


def test_one_pixel_image(tmp_path):
    path = save_image(tmp_path / "dot.png", (1, 1), (1, 2, 3))
    out = decode_image(path)
    np.testing.assert_array_equal(out, [[[1, 2, 3]]])
    small = resize(out, 100)
    assert small.shape == (3, 100, 100)
    assert small[:, 50, 50].tolist() == [1, 2, 3]


def test_a_float_image_file_within_0_to_1_is_scaled_like_a_float_array(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    ramp[0, 0] = np.nan
    Image.fromarray(ramp, mode="F").save(tmp_path / "float.tif")
    out = decode_image(tmp_path / "float.tif")
    assert out.shape == (8, 64, 3) and out[0, 0, 0] == 0 and out[1, -1, 0] == 255
    assert 120 <= out[4, 32, 0] <= 136, "a mid-grey float pixel should stay mid-grey"
    Image.fromarray(ramp * 200, mode="F").save(tmp_path / "float255.tif")  # floats on the 0-255 scale stay on it
    assert 95 <= decode_image(tmp_path / "float255.tif")[4, 32, 0] <= 106


def test_arrays_float_grey_and_rgba():
    grey = np.full((4, 5), 0.5, np.float32)
    out = decode_image(grey)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8 and 126 <= out[0, 0, 0] <= 128
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 1] = 77
    assert decode_image(rgba).shape == (3, 3, 3) and decode_image(rgba)[0, 0, 1] == 77
    with pytest.raises(BadImage, match="expected HxW"):
        decode_image(np.zeros((2, 2, 2), np.uint8))


def test_resize_keeps_range_and_shape(rgb_noise):
    out = resize(rgb_noise, (16, 24))
    assert out.shape == (3, 16, 24) and out.dtype.is_floating_point is False
    same = resize(rgb_noise, (40, 60))
    np.testing.assert_array_equal(same.permute(1, 2, 0).numpy(), rgb_noise)


def test_is_grey():
    assert is_grey(np.full((2, 2, 3), 7, np.uint8))
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[..., 0] = 50
    assert not is_grey(colour)


# --- bad files: one BadImage (a TrivisionError) naming the file -----------------------------------

def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(BadImage, match="empty.jpg: not an image file"):
        decode_image(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(BadImage, match="notes.jpg: not an image file"):
        decode_image(path)


def test_truncated_jpeg(tmp_path, rgb_noise):
    buf = io.BytesIO()
    Image.fromarray(np.tile(rgb_noise, (4, 4, 1))).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])  # header intact, scan data cut off
    with pytest.raises(BadImage, match="cut.jpg: corrupt or truncated"):
        decode_image(path)
    path.write_bytes(data[:300])  # cut inside the header
    with pytest.raises(BadImage, match="cut.jpg: "):
        decode_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(BadImage, match="nope.png: cannot open"):
        decode_image(tmp_path / "nope.png")


def test_pixel_limit_refuses_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (8000, 6000)).save(path)  # 48 MP of zeros: a few kB on disk
    assert path.stat().st_size < 1_000_000
    with pytest.raises(BadImage, match=r"bomb.png: image too large \(8000x6000 = 48.0 MP, limit 40 MP\)"):
        decode_image(path)
    assert 8000 * 6000 > MAX_PIXELS
    assert decode_image(save_image(tmp_path / "ok.png", (10, 10)), max_pixels=100).shape == (10, 10, 3)
    with pytest.raises(BadImage, match="too large"):
        decode_image(save_image(tmp_path / "ok.png", (10, 11)), max_pixels=100)


def test_bad_image_is_a_trivision_error():
    assert issubclass(BadImage, TrivisionError)
    with pytest.raises(TrivisionError, match="<bytes>"):
        decode_image(b"\x00\x01garbage")
