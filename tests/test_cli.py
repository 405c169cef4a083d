"""The command line: subcommands, outputs named by seed, JSON results and errors, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from support import REPO_ROOT, save_tiny_checkpoint

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
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seed41.png", "seed42.png", "seed43.png"]
    # the same seed alone gives the same picture
    assert main(["generate", "--model", str(tiny_dcgan), "--seed", "42", "--output", str(tmp_path / "one.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")), np.asarray(Image.open(tmp_path / "out" / "seed42.png")))


def test_interpolate_writes_an_animated_gif(tiny_dcgan, tmp_path):
    assert main(["interpolate", "--model", str(tiny_dcgan), "--seeds", "1", "2", "--steps", "5", "--output", str(tmp_path / "walk.gif")]) == 0
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 8  # 5 forward, 3 back


def test_interpolate_to_a_folder_writes_frames(tiny_dcgan, tmp_path):
    assert main(["interpolate", "--model", str(tiny_dcgan), "--seeds", "1", "2", "--steps", "4", "--mode", "lerp", "--output", str(tmp_path / "frames")]) == 0
    assert len(list((tmp_path / "frames").glob("frame*.png"))) == 4


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
