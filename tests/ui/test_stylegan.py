"""StyleGAN in the Generate and Interpolate tabs through their API: truncation psi, noise, StyleGAN3's transform,
style mixing, the principal directions, W walks; and a hostile pickle uploaded to the Models tab."""

from __future__ import annotations

import os
import pickle

import numpy as np
from gradio_client import handle_file

from ui.results import app_error, gallery_images, open_result

# model, seed, count, label, threshold, psi, cutoff, noise, translate x, translate y, rotate
STYLE = {"psi": 1.0, "cutoff": 0, "noise": "const", "translate_x": 0.0, "translate_y": 0.0, "rotate": 0.0}


def _generate(client, model, seed, **style):
    values = {**STYLE, **style}
    originals = client.predict(model, seed, 1, None, 0.0, *values.values(), api_name="/generate")[1]
    return np.asarray(open_result(originals[0]), dtype=np.int16)


def test_truncation_psi_and_noise_reach_a_stylegan(client):
    plain = _generate(client, "tiny-stylegan2", 3)
    assert plain.shape == (32, 32, 3)
    assert np.array_equal(plain, _generate(client, "tiny-stylegan2", 3))
    average = _generate(client, "tiny-stylegan2", 3, psi=0.0)
    assert np.array_equal(average, _generate(client, "tiny-stylegan2", 9, psi=0.0))  # psi 0: the average image
    assert not np.array_equal(plain, average)
    assert not np.array_equal(plain, _generate(client, "tiny-stylegan2", 3, noise="none"))


def test_translate_and_rotate_move_stylegan3_and_other_models_ignore_the_hidden_controls(client):
    still = _generate(client, "tiny-stylegan3", 4)
    assert not np.array_equal(still, _generate(client, "tiny-stylegan3", 4, translate_x=0.2, rotate=20.0))
    # a model without an input transform ignores the hidden controls rather than failing
    assert np.array_equal(_generate(client, "tiny-stylegan2", 4), _generate(client, "tiny-stylegan2", 4, rotate=20.0))
    # and DCGAN ignores every StyleGAN control it does not show
    dcgan = client.predict("tiny-dcgan", 4, 1, None, 0.0, 0.3, 2, "none", 0.1, 0.1, 5.0, api_name="/generate")[1]
    assert open_result(dcgan[0]).size == (32, 32)


def test_style_mixing_returns_the_grid(client):
    shown, grid, info = client.predict("tiny-stylegan2", "1,2", "5-7", "0-3", None, *STYLE.values(), api_name="/style_mix")
    assert open_result(grid).size == (32 * 4, 32 * 3)
    assert open_result(shown).size == (32 * 4 * 3, 32 * 3 * 3)  # enlarged whole times, pixels kept crisp
    assert "2×3 mixes" in info
    message = app_error(client, model_name="tiny-stylegan2", row_seeds="1", col_seeds="2", col_styles="0-99", label=None,
                        api_name="/style_mix")
    assert "from 0 to 7" in message
    message = app_error(client, model_name="tiny-dcgan", row_seeds="1", col_seeds="2", col_styles="0", label=None,
                        api_name="/style_mix")
    assert "StyleGAN model" in message


def test_directions_move_the_seeds_image(client):
    def moved(*amounts, first=0, last=8):
        image, info = client.predict("tiny-stylegan2", 6, None, first, last, 1.0, "const", 0.0, 0.0, 0.0, *amounts,
                                     api_name="/move_along_directions")
        return np.asarray(open_result(image), dtype=np.int16), info

    start, info = moved(0, 0, 0, 0, 0, 0)
    assert "variance per direction" in info
    shown_plain = np.asarray(open_result(client.predict("tiny-stylegan2", 6, 1, None, 0.0, *STYLE.values(),
                                                        api_name="/generate")[0][0]["image"]), dtype=np.int16)
    assert np.array_equal(start, shown_plain)  # no move: the generated image, enlarged the same way
    assert not np.array_equal(start, moved(3, 0, 0, 0, 0, 0)[0])
    assert not np.array_equal(moved(3, 0, 0, 0, 0, 0, first=6)[0], moved(3, 0, 0, 0, 0, 0)[0])


def test_a_stylegan_walks_in_w(client):
    strip, _, _, info = client.predict("tiny-stylegan2", 1, 2, 3, "lerp", None, 100, "w", 0.7, api_name="/interpolate")
    assert len(gallery_images(strip)) == 3 and "in W" in info


def test_an_uploaded_pickle_that_would_run_code_runs_nothing_and_says_why(client, tmp_path):
    marker = tmp_path / "ran"

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(pickle.dumps({"G_ema": RunsCode()}, protocol=4))
    message = app_error(client, files=[handle_file(str(path))], address="", name="hostile", overwrite=False,
                        api_name="/import_model")
    assert "would run code" in message and "refused" in message
    assert not marker.exists()
