"""The command line: subcommands, outputs named by seed, JSON results and errors, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from support import REPO_ROOT, save_tiny_checkpoint, tiny_stylegan_pickle

from ganstudio.cli import main, parse_attributes
from ganstudio.errors import GanStudioError


@pytest.fixture(autouse=True)
def _private_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))


def _run_json(capsys, args: list[str]) -> tuple[int, dict]:
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("generate", "interpolate", "translate", "edit", "stylize", "models", "import", "export"):
        assert command in text


def test_models_json_lists_the_bundled_models(capsys):
    code, result = _run_json(capsys, ["models"])
    assert code == 0
    assert {"magenta-arbitrary", "magenta-26-styles"} <= {row["name"] for row in result["models"]}


def test_generate_several_images_writes_one_png_per_seed(capsys, tiny_dcgan, tmp_path):
    code, result = _run_json(capsys, ["generate", "--model", str(tiny_dcgan), "--seed", "41", "--count", "3",
                                      "--output", str(tmp_path / "out")])
    assert code == 0 and result["seeds"] == [41, 42, 43]
    names = ["netg-epoch-0-seed41.png", "netg-epoch-0-seed42.png", "netg-epoch-0-seed43.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    # the same seed alone gives the same picture
    assert main(["generate", "--model", str(tiny_dcgan), "--seed", "42", "--output", str(tmp_path / "one.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")), np.asarray(Image.open(tmp_path / "out" / names[1])))


def test_a_generated_png_carries_its_recipe_and_info_remakes_it(capsys, tmp_path):
    assert _run_json(capsys, ["generate", "--model", "digits-cgan", "--seed", "5", "--label", "7", "--truncation", "1.5",
                              "--output", str(tmp_path / "seven.png")])[0] == 0
    code, result = _run_json(capsys, ["info", str(tmp_path / "seven.png")])
    recipe = result["recipe"]
    assert code == 0 and recipe["model"] == "digits-cgan" and recipe["task"] == "generate"
    assert recipe["settings"] == {"seed": 5, "label": "7", "truncation": 1.5}
    assert len(recipe["weights"]) == 16 and recipe["backend"] == "torch"
    # the line it prints makes the same image again
    command = result["message"].splitlines()[1].removeprefix("make it again: python -m ganstudio ").split()
    command[command.index("--output") + 1] = str(tmp_path / "again.png")
    assert main(command) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png")), np.asarray(Image.open(tmp_path / "seven.png")))


def test_info_on_an_image_without_a_recipe_says_so(capsys, tmp_path, chelsea):
    chelsea.save(tmp_path / "cat.png")
    code, result = _run_json(capsys, ["info", str(tmp_path / "cat.png")])
    assert code == 2 and "carries no GAN Studio recipe" in result["error"]


def test_interpolate_writes_an_animated_gif(tiny_dcgan, tmp_path):
    assert main(["interpolate", "--model", str(tiny_dcgan), "--seeds", "1", "2", "--steps", "5", "--output", str(tmp_path / "walk.gif")]) == 0
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 8  # 5 forward, 3 back


def test_interpolate_to_a_folder_writes_frames(tiny_dcgan, tmp_path):
    assert main(["interpolate", "--model", str(tiny_dcgan), "--seeds", "1", "2", "--steps", "4", "--mode", "lerp", "--output", str(tmp_path / "frames")]) == 0
    assert len(list((tmp_path / "frames").glob("netg-epoch-0-frame*.png"))) == 4


def test_user_error_exits_2_with_json_error(capsys, tmp_path):
    code, result = _run_json(capsys, ["generate", "--model", "no-such-model", "--output", str(tmp_path / "x.png")])
    assert code == 2 and "not found" in result["error"]


def test_not_an_image_exits_2_with_a_message(capsys, tmp_path, tiny_dcgan):
    text_file = tmp_path / "photo.png"
    text_file.write_text("hello")
    code = main(["translate", "--model", str(tiny_dcgan), "--input", str(text_file), "--output", str(tmp_path / "o.png")])
    assert code == 2
    assert "not an image" in capsys.readouterr().err


def test_model_of_the_wrong_task_is_refused(capsys, tmp_path, tiny_dcgan, chelsea):
    chelsea.save(tmp_path / "cat.png")
    code = main(["translate", "--model", str(tiny_dcgan), "--input", str(tmp_path / "cat.png"), "--output", str(tmp_path / "o.png")])
    assert code == 2
    assert "for generate, not translate" in capsys.readouterr().err


def test_attribute_text_parses_names_and_values():
    assert parse_attributes("Black_Hair=1, Male=0,2=1") == {"Black_Hair": 1.0, "Male": 0.0, "2": 1.0}
    with pytest.raises(GanStudioError, match="NAME=0"):
        parse_attributes("Male=yes")


def test_import_then_generate_by_name(capsys, tiny_dcgan, tmp_path):
    code, result = _run_json(capsys, ["import", str(tiny_dcgan), "--name", "tiny"])
    assert code == 0 and result["name"] == "tiny" and result["arch"] == "dcgan"
    assert main(["generate", "--model", "tiny", "--seed", "0", "--output", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (64, 64)


def test_export_then_run_the_onnx_folder(capsys, tiny_dcgan, tmp_path):
    code, result = _run_json(capsys, ["export", "--model", str(tiny_dcgan), "--output", str(tmp_path / "onnx")])
    assert code == 0 and result["metrics"]["onnx_parity_max_abs_diff"]["G"] <= 1e-3
    assert main(["generate", "--model", str(tmp_path / "onnx"), "--seed", "5", "--output", str(tmp_path / "onnx.png")]) == 0
    assert main(["generate", "--model", str(tiny_dcgan), "--seed", "5", "--output", str(tmp_path / "torch.png")]) == 0
    difference = np.abs(np.asarray(Image.open(tmp_path / "onnx.png"), dtype=int) - np.asarray(Image.open(tmp_path / "torch.png"), dtype=int))
    assert difference.max() <= 1


def _imports_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('IMPORTED', *sorted(m for m in ('torch', 'gradio') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().splitlines()[-1].split()[1:])


def test_cli_on_an_onnx_model_imports_neither_torch_nor_gradio(tmp_path, chelsea):
    chelsea.save(tmp_path / "cat.png")
    loaded = _imports_after(
        "from ganstudio.cli import main\n"
        f"assert main(['stylize', '--model', 'magenta-26-styles', '--content', r'{tmp_path / 'cat.png'}', '--output', r'{tmp_path / 'o.png'}']) == 0"
    )
    assert loaded == set()
    assert (tmp_path / "o.png").is_file()


def test_cli_on_a_pytorch_model_imports_torch_but_not_gradio(tmp_path):
    path = save_tiny_checkpoint("dcgan", tmp_path / "netG.pth", nz=8, ngf=4)
    loaded = _imports_after(f"from ganstudio.cli import main\nassert main(['generate', '--model', r'{path}', '--output', r'{tmp_path / 'o.png'}']) == 0")
    assert loaded == {"torch"}


def test_finetune_trains_on_the_asked_device_and_registers_the_model(capsys, tmp_path):
    pictures = tmp_path / "sevens"
    pictures.mkdir()
    rng = np.random.default_rng(0)
    for index in range(12):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(pictures / f"{index}.png")
    code, result = _run_json(capsys, ["finetune", "--base", "digits-dcgan", "--data", str(pictures), "--name", "my-sevens",
                                      "--steps", "2", "--batch-size", "4", "--device", "cpu"])
    assert code == 0 and result["state"] == "done" and result["model"] == "my-sevens"
    code, listed = _run_json(capsys, ["jobs"])
    assert listed["jobs"][0]["device"] == "cpu" and listed["jobs"][0]["step"] == 2
    code, generated = _run_json(capsys, ["generate", "--model", "my-sevens", "--seed", "3", "--output", str(tmp_path / "g.png")])
    assert code == 0 and Image.open(tmp_path / "g.png").size == (32, 32)


def test_remove_deletes_a_user_model_and_refuses_a_built_in_one(capsys, tmp_path):
    checkpoint = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_0.pth", nz=8, ngf=4, n_layers=4)
    assert _run_json(capsys, ["import", str(checkpoint), "--name", "temp-digits"])[0] == 0
    code, result = _run_json(capsys, ["remove", "temp-digits"])
    assert code == 0 and "removed 'temp-digits'" in result["message"]
    assert "temp-digits" not in {row["name"] for row in _run_json(capsys, ["models"])[1]["models"]}
    code, result = _run_json(capsys, ["remove", "digits-dcgan"])
    assert code == 2 and "only imported or fine-tuned" in result["error"]


def test_extract_saves_the_picked_generator_and_generate_runs_it(capsys, tmp_path):
    import torch

    from ganstudio.models import dcgan

    networks = {}
    for seed, key in enumerate(("generator", "g_ema")):
        torch.manual_seed(seed)
        networks[key] = dcgan.build(dcgan.Config(nz=8, ngf=4, n_layers=4)).state_dict()
    torch.save({**networks, "step": 7}, tmp_path / "train.pt")
    code, result = _run_json(capsys, ["generate", "--model", str(tmp_path / "train.pt"), "--output", str(tmp_path / "x.png")])
    assert code == 2 and "'generator' (dcgan), 'g_ema' (dcgan)" in result["error"] and "ganstudio extract" in result["error"]
    code, result = _run_json(capsys, ["extract", str(tmp_path / "train.pt"), "--key", "g_ema", "--output", str(tmp_path / "G.safetensors")])
    assert code == 0 and result["arch"] == "dcgan"
    assert main(["generate", "--model", str(tmp_path / "G.safetensors"), "--seed", "1", "--output", str(tmp_path / "one.png")]) == 0
    assert Image.open(tmp_path / "one.png").size == (32, 32)


# -- InfoGAN codes and style optimisation ------------------------------------------------------------

def test_generate_with_codes_sets_them_and_draws_the_others_from_the_seed(capsys, tmp_path):
    from ganstudio.cli import parse_codes

    model = save_tiny_checkpoint("infogan", tmp_path / "netG.pth", nz=6, fc_dim=16, ngf=4, base=8)
    code, result = _run_json(capsys, ["generate", "--model", str(model), "--seed", "5", "--count", "2", "--codes",
                                      "cat=3, c1=-1.5", "--output", str(tmp_path / "out")])
    assert code == 0 and [codes["cat"] for codes in result["codes"]] == [3, 3]
    assert [codes["c1"] for codes in result["codes"]] == [-1.5, -1.5] and result["codes"][0]["c2"] != result["codes"][1]["c2"]
    assert parse_codes("cat=3,c2=0.25") == {"cat": 3.0, "c2": 0.25}
    with pytest.raises(GanStudioError, match="NAME=NUMBER"):
        parse_codes("cat:3")
    code, result = _run_json(capsys, ["generate", "--model", str(model), "--codes", "cat=12", "--output", str(tmp_path / "x.png")])
    assert code == 2 and "0 to 9" in result["error"]


def test_stylize_by_optimisation_writes_the_image_and_reports_the_losses(capsys, tmp_path, chelsea):
    from support import save_random_vgg19

    vgg = save_random_vgg19(tmp_path / "vgg19-dcbb9e9d.pth", last_layer="relu2_2")
    chelsea.save(tmp_path / "cat.png")
    chelsea.rotate(90, expand=True).save(tmp_path / "style.png")
    code, result = _run_json(capsys, [
        "stylize", "--method", "gatys", "--vgg", str(vgg), "--content", str(tmp_path / "cat.png"),
        "--style", str(tmp_path / "style.png"), "--steps", "4", "--progress-every", "2", "--max-side", "48",
        "--style-layers", "relu1_1,relu2_1", "--content-layer", "relu2_2", "--seed", "1", "--device", "cpu",
        "--output", str(tmp_path / "out.png")])
    assert code == 0 and result["steps"] == 4 and not result["stopped"], result
    assert set(result["losses"]) == {"content", "style", "tv", "total"}
    assert Image.open(tmp_path / "out.png").size == (48, 32) == tuple(result["size"])


def test_stylize_by_optimisation_without_vgg_says_where_to_put_it(capsys, tmp_path, chelsea, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    chelsea.save(tmp_path / "cat.png")
    code, result = _run_json(capsys, ["stylize", "--method", "gatys", "--content", str(tmp_path / "cat.png"),
                                      "--style", str(tmp_path / "cat.png"), "--output", str(tmp_path / "o.png")])
    assert code == 2 and "vgg19-dcbb9e9d.pth" in result["error"] and str(tmp_path / "torch") in result["error"]
    assert str(tmp_path / "home" / "vgg19") in result["error"]
    code, result = _run_json(capsys, ["stylize", "--content", str(tmp_path / "cat.png"), "--output", str(tmp_path / "o.png")])
    assert code == 2 and "--model" in result["error"] and "--method gatys" in result["error"]


# -- StyleGAN ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pickles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pickles")
    return {"sg2": tiny_stylegan_pickle(folder / "sg2" / "network-snapshot-000000.pkl", c_dim=2),
            "sg3": tiny_stylegan_pickle(folder / "sg3" / "network-snapshot-000000.pkl", "stylegan3")}


def test_generate_takes_the_nvlabs_scripts_options(capsys, tiny_pickles, tmp_path):
    code, result = _run_json(capsys, ["generate", "--model", str(tiny_pickles["sg2"]), "--seed", "4", "--class", "1",
                                      "--truncation-psi", "0.6", "--truncation-cutoff", "3", "--noise-mode", "none",
                                      "--output", str(tmp_path / "a.png")])
    assert code == 0 and result["label"] == 1 and result["arch"] == "stylegan2_ada"
    assert main(["generate", "--model", str(tiny_pickles["sg2"]), "--seed", "4", "--label", "1", "--truncation-psi", "0.6",
                 "--truncation-cutoff", "3", "--noise-mode", "none", "--output", str(tmp_path / "b.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    capsys.readouterr()
    code, result = _run_json(capsys, ["generate", "--model", str(tiny_pickles["sg2"]), "--class", "1", "--label", "0",
                                      "--output", str(tmp_path / "c.png")])
    assert code == 2 and "--label or --class" in result["error"]
    code, result = _run_json(capsys, ["generate", "--model", str(tiny_pickles["sg2"]), "--class", "0", "--rotate", "10",
                                      "--output", str(tmp_path / "c.png")])
    assert code == 2 and "cannot be translated or rotated" in result["error"]


def test_translate_and_rotate_reach_a_stylegan3_model(capsys, tiny_pickles, tmp_path):
    base = ["generate", "--model", str(tiny_pickles["sg3"]), "--seed", "2"]
    assert main([*base, "--output", str(tmp_path / "still.png")]) == 0
    assert main([*base, "--translate", "0.2,-0.1", "--rotate", "-30", "--output", str(tmp_path / "moved.png")]) == 0
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "still.png")), np.asarray(Image.open(tmp_path / "moved.png")))
    with pytest.raises(SystemExit):
        main([*base, "--translate", "0.2", "--output", str(tmp_path / "x.png")])
    assert "two numbers separated by a comma" in capsys.readouterr().err


def test_style_mix_writes_each_pair_and_the_grid_into_a_folder(capsys, tiny_pickles, tmp_path):
    code, result = _run_json(capsys, ["style-mix", "--model", str(tiny_pickles["sg2"]), "--class", "0", "--row-seeds", "1-2",
                                      "--col-seeds", "5,6", "--col-styles", "0-3", "--output", str(tmp_path / "mix")])
    assert code == 0 and result["col_styles"] == [0, 1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "mix").iterdir()) == ["1-5.png", "1-6.png", "2-5.png", "2-6.png", "grid.png"]
    assert Image.open(tmp_path / "mix" / "grid.png").size == (96, 96)
    # rosinality's vocabulary: the first K ws from --seed, the rest from --mix-seed
    assert main(["style-mix", "--model", str(tiny_pickles["sg2"]), "--class", "0", "--seed", "1", "--mix-seed", "5",
                 "--inject-index", "3", "--output", str(tmp_path / "inject.png")]) == 0
    assert main(["style-mix", "--model", str(tiny_pickles["sg2"]), "--class", "0", "--row-seed", "1", "--col-seed", "5",
                 "--col-styles", "3-7", "--output", str(tmp_path / "styles.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "inject.png")), np.asarray(Image.open(tmp_path / "styles.png")))
    capsys.readouterr()
    code, result = _run_json(capsys, ["style-mix", "--model", str(tiny_pickles["sg2"]), "--row-seeds", "1", "--col-seeds", "2",
                                      "--output", str(tmp_path / "x.png")])
    assert code == 2 and "--col-styles" in result["error"]


def test_interpolate_in_w_writes_frames(tiny_pickles, tmp_path):
    assert main(["interpolate", "--model", str(tiny_pickles["sg3"]), "--seeds", "1", "2", "--steps", "3", "--space", "w",
                 "--truncation-psi", "0.7", "--output", str(tmp_path / "walk")]) == 0
    assert len(list((tmp_path / "walk").glob("*-frame*.png"))) == 3


def test_an_exported_stylegan_gives_the_same_image_without_torch(capsys, tiny_pickles, tmp_path):
    code, result = _run_json(capsys, ["export", "--model", str(tiny_pickles["sg2"]), "--output", str(tmp_path / "onnx")])
    assert code == 0 and set(result["files"]) == {"mapping", "synthesis"}
    assert max(result["metrics"]["onnx_parity_max_abs_diff"].values()) <= 1e-3
    options = ["--seed", "7", "--class", "1", "--truncation-psi", "0.5", "--count", "2"]
    assert main(["generate", "--model", str(tiny_pickles["sg2"]), *options, "--output", str(tmp_path / "torch")]) == 0
    loaded = _imports_after("from ganstudio.cli import main\n"
                            f"assert main(['generate', '--model', r'{tmp_path / 'onnx'}', *{options!r}, "
                            f"'--output', r'{tmp_path / 'onnx-images'}']) == 0")
    assert loaded == set()
    for seed in (7, 8):
        (torch_file,), (onnx_file,) = ((tmp_path / folder).glob(f"*-seed{seed}.png") for folder in ("torch", "onnx-images"))
        difference = np.abs(np.asarray(Image.open(torch_file), dtype=int) - np.asarray(Image.open(onnx_file), dtype=int))
        assert difference.max() <= 1


def test_precision_int8_runs_the_quantised_model_and_reports_what_it_changed(capsys, tmp_path):
    path = save_tiny_checkpoint("dcgan", tmp_path / "netG.pth", nz=8, ngf=8)
    code, result = _run_json(capsys, ["generate", "--model", str(path), "--seed", "4", "--precision", "int8",
                                      "--output", str(tmp_path / "int8.png")])
    assert code == 0 and (result["backend"], result["precision"]) == ("onnx", "int8")
    assert result["fidelity"]["psnr_db"] > 0 and isinstance(result["fidelity"]["visible"], bool)
    assert Image.open(tmp_path / "int8.png").size == (64, 64)


def test_a_precision_no_cpu_runtime_runs_natively_exits_2_with_the_reason(capsys, tmp_path, chelsea):
    chelsea.save(tmp_path / "cat.png")
    code, result = _run_json(capsys, ["stylize", "--model", "magenta-26-styles", "--content", str(tmp_path / "cat.png"),
                                      "--precision", "fp16", "--device", "cpu", "--output", str(tmp_path / "o.png")])
    assert code == 2 and "fp16 is not available for 'magenta-26-styles'" in result["error"] and "int8" in result["error"]
    assert not (tmp_path / "o.png").exists()
