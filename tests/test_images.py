"""Image decoding limits, mode conversion and the official pixel conventions."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from ganstudio import images
from ganstudio.errors import ImageError


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming_size(width: int, height: int) -> bytes:
    """A small valid PNG whose header claims width x height (the pixels would need gigabytes)."""
    data = bytearray(_png_bytes(Image.new("RGB", (8, 8), "red")))
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_text_file_is_refused_with_a_readable_message(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    with pytest.raises(ImageError, match="not an image"):
        images.open_image(path)


def test_missing_file_says_it_does_not_exist(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        images.open_image(tmp_path / "absent.png")


def test_one_pixel_image_is_refused():
    with pytest.raises(ImageError, match="at least"):
        images.open_image(_png_bytes(Image.new("RGB", (1, 1))))


def test_huge_image_is_refused_before_its_pixels_are_decoded():
    data = _png_claiming_size(20000, 20000)
    tracemalloc.start()
    with pytest.raises(ImageError, match="too large|over the limit"):
        images.open_image(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20_000_000  # decoding 20000x20000 RGB would take 1.2 GB


def test_truncated_png_gives_a_damaged_image_message():
    data = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ImageError):
        images.open_image(data[: len(data) // 2])


def test_grayscale_becomes_rgb_with_equal_channels():
    gray = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), mode="L")
    rgb = np.asarray(images.open_image(_png_bytes(gray)))
    assert rgb.shape == (16, 16, 3)
    assert (rgb[..., 0] == np.arange(256).reshape(16, 16)).all()
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_transparent_pixels_are_composited_over_white():
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    rgb = images.open_image(_png_bytes(rgba))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((5, 5)) == (255, 0, 0)


def test_sixteen_bit_png_is_scaled_not_clipped():
    values = np.array([[0, 257 * 128, 65535, 65535]] * 16, dtype=np.uint16).repeat(4, axis=1)
    image = Image.fromarray(values)
    decoded = np.asarray(images.open_image(_png_bytes(image)))
    assert decoded[0, 0, 0] == 0
    assert decoded[0, 4, 0] == 128
    assert decoded[0, 8, 0] == 255


def test_minus_one_to_one_round_trip_matches_official_truncation():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    image = Image.fromarray(np.stack([pixels] * 3, axis=-1))
    array = images.image_to_array(image, (-1.0, 1.0))
    assert array.shape == (1, 3, 16, 16) and array.dtype == np.float32
    assert array.min() == -1.0 and array.max() == 1.0
    back = np.asarray(images.array_to_image(array, (-1.0, 1.0), "round"))
    assert (back[..., 0] == pixels).all()


def test_truncate_and_round_differ_as_the_official_scripts_do():
    value = np.full((3, 2, 2), 0.5 / 255.0 * 2 - 1 + 1e-3, dtype=np.float32)  # just over half a grey level
    assert np.asarray(images.array_to_image(value, (-1.0, 1.0), "truncate"))[0, 0, 0] == 0
    assert np.asarray(images.array_to_image(value, (-1.0, 1.0), "round"))[0, 0, 0] == 1


def test_out_of_range_outputs_are_clamped():
    array = np.array([-300.0, 128.7, 900.0], dtype=np.float32).reshape(3, 1, 1).repeat(2, 1).repeat(2, 2)
    pixels = np.asarray(images.array_to_image(array, (0.0, 255.0), "truncate"))
    assert pixels[0, 0].tolist() == [0, 128, 255]


def test_valid_size_keeps_valid_sizes_and_rounds_others():
    assert images.valid_size(256, 256, multiple=4) == (256, 256)
    assert images.valid_size(250, 130, multiple=4) == (252, 132)
    assert images.valid_size(300, 200, multiple=256) == (256, 256)
    assert images.valid_size(4000, 2000, multiple=4, max_side=1024) == (1024, 512)


def test_latents_depend_only_on_their_own_seed():
    together = images.latents_from_seeds([7, 8, 9], 16)
    alone = images.latents_from_seeds([8], 16)
    np.testing.assert_array_equal(together[1], alone[0])
    assert not np.allclose(together[0], together[1])


def test_truncation_keeps_every_value_within_the_threshold():
    latents = images.latents_from_seeds(range(20), 100, truncation=0.5)
    assert np.abs(latents).max() <= 0.5


def test_interpolation_starts_and_ends_at_the_endpoints():
    start, end = images.latents_from_seeds([1, 2], 32)
    for mode in ("lerp", "slerp"):
        path = images.interpolate_latents(start, end, 5, mode=mode)
        np.testing.assert_allclose(path[0], start, atol=1e-6)
        np.testing.assert_allclose(path[-1], end, atol=1e-6)


def test_slerp_between_equal_norms_keeps_the_norm_and_lerp_does_not():
    start = np.array([1.0, 0.0], dtype=np.float32)
    end = np.array([0.0, 1.0], dtype=np.float32)
    middle_slerp = images.interpolate_latents(start, end, 3, mode="slerp")[1]
    middle_lerp = images.interpolate_latents(start, end, 3, mode="lerp")[1]
    assert np.linalg.norm(middle_slerp) == pytest.approx(1.0, abs=1e-6)
    assert np.linalg.norm(middle_lerp) == pytest.approx(np.sqrt(0.5), abs=1e-6)


def test_animation_bounces_and_loops(tmp_path):
    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(4)]
    path = images.save_animation(frames, tmp_path / "walk.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 6  # 4 forward, 2 back
        assert gif.info.get("loop") == 0


def test_output_scale_256_truncates_as_omniart_eye_generator_does():
    array = np.linspace(-1, 1, 3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    package = np.clip(((array.transpose(1, 2, 0) + 1) / 2.0) * 256, 0, 255).astype(np.uint8)  # eye_generator.__to_image
    assert np.array_equal(np.asarray(images.array_to_image(array, (-1.0, 1.0), "truncate", scale=256)), package)


def test_minmax_normalize_stretches_each_image_to_its_own_range():
    array = np.array([[[-0.5, 0.0], [0.25, 0.5]]] * 3, dtype=np.float32)
    pixels = np.asarray(images.array_to_image(array, (-1.0, 1.0), "truncate", normalize="minmax"))[..., 0]
    assert pixels.tolist() == [[0, 127], [191, 255]]  # (x - min) / (max - min) * 255, truncated
    flat = np.asarray(images.array_to_image(np.zeros((3, 2, 2), np.float32), normalize="minmax", rounding="truncate"))
    assert flat.max() == 0  # a flat image divides by 1e-5, as make_grid does, instead of by zero


def test_short_side_scales_keeping_the_aspect_ratio_and_respects_the_cap():
    assert images.valid_size(451, 300, multiple=4, short_side=512) == (772, 512)
    assert images.valid_size(512, 512, multiple=4, short_side=512) == (512, 512)
    assert images.valid_size(3000, 1000, multiple=4, short_side=512, max_side=1024) == (1024, 340)


def test_fit_image_resamples_with_the_named_filter():
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8))
    bilinear = images.fit_image(picture, multiple=4, short_side=16, resample="bilinear")
    assert bilinear.size == (20, 16)
    assert np.array_equal(np.asarray(bilinear), np.asarray(picture.resize((20, 16), Image.BILINEAR)))
    with pytest.raises(ValueError, match="resample"):
        images.fit_image(picture, multiple=4, short_side=16, resample="nearest-ish")


def test_a_strip_no_photo_has_is_refused_from_its_header():
    with pytest.raises(ImageError, match="more than 20 times longer than it is wide"):
        images.open_image(_png_claiming_size(20000, 8))
    with pytest.raises(ImageError, match="more than 20 times longer"):
        images.read_image_size(_png_claiming_size(8, 20000))
    assert images.read_image_size(_png_claiming_size(400, 20)) == (400, 20)


def test_header_sizes_are_read_without_decoding_pixels():
    tracemalloc.start()
    with pytest.raises(ImageError, match="too large|over the limit"):
        images.read_image_size(_png_claiming_size(13000, 13000), max_pixels=16_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20_000_000


def test_previews_are_enlarged_within_a_bound():
    assert images.enlarge_for_display(Image.new("RGB", (32, 32)), min_side=256).size == (256, 256)
    assert images.enlarge_for_display(Image.new("RGB", (400, 20)), min_side=256).size == (2000, 100)
    assert images.enlarge_for_display(Image.new("RGB", (2048, 8)), min_side=256).size == (2048, 8)


def test_an_animation_frame_lasts_a_bounded_time(tmp_path):
    frames = [Image.new("RGB", (8, 8))] * 2
    for duration in (0, 10**9, 1.5):
        with pytest.raises(ImageError, match="a frame lasts 10 to 10000 ms"):
            images.save_animation(frames, tmp_path / "walk.gif", duration_ms=duration)
