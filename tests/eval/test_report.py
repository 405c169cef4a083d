"""End to end: the evaluation of tiny untrained built-in models, printed as a table, Markdown and JSON."""

from __future__ import annotations

import json

import pytest

from ganstudio.eval.__main__ import main
from ganstudio.eval.report import COLUMNS, format_markdown, format_text, to_json
from ganstudio.eval.suite import BUILT_IN_MODELS, evaluate_models

SAMPLES = 20

# Every measurement each model must report.
EXPECTED_SCORES = {
    "digits-dcgan": {"confidence", "digit_shares", "min_share", "entropy", "fd"},
    "digits-cgan": {"label_accuracy", "worst_digit_accuracy", "within_digit_spread", "fd"},
    "digits-infogan": {"category_accuracy", "category_purity", "digits_found", "c1_width", "c1_slant", "c2_width",
                       "c2_slant", "fd"},
    "sketch2digit": {"digit_kept", "l1_to_digit"},
    "digits-stargan": {"red_accuracy", "thick_accuracy", "slanted_accuracy", "all_accuracy", "identity_kept"},
    "digits-stargan-v2": {"latent_domain_accuracy", "latent_identity_kept", "reference_domain_accuracy",
                          "reference_identity_kept", "width_carried", "slant_carried"},
    "digits-cyclegan": {"a_to_b_domain", "b_to_a_domain", "cycle_error_a", "cycle_error_b", "b_to_a_identity_kept"},
}


@pytest.fixture(scope="module")
def reports(tiny_registry, tiny_judges):
    from ganstudio.eval.classifier import torch_threads

    with torch_threads(1):
        return evaluate_models(BUILT_IN_MODELS, registry=tiny_registry, judges=tiny_judges, samples=SAMPLES)


def test_every_built_in_model_reports_every_score(reports):
    assert [report.name for report in reports] == list(BUILT_IN_MODELS)
    assert set(BUILT_IN_MODELS) == set(EXPECTED_SCORES)
    for report in reports:
        assert report.status == "ok", report.message
        assert {score.key for score in report.scores} == EXPECTED_SCORES[report.name]


def test_shares_and_percentages_stay_in_range(reports):
    for report in reports:
        for score in report.scores:
            if score.kind == "percent":
                assert 0.0 <= score.value <= 1.0, (report.name, score.key)
            if score.kind == "shares":
                assert sum(score.value) == pytest.approx(1.0) and len(score.value) == 10


def test_references_on_real_images_are_what_they_must_be(reports):
    scores = {(report.name, score.key): score for report in reports for score in report.scores}
    # The untrained DCGAN is far from real digits; two sets of real digits are close.
    fd = scores["digits-dcgan", "fd"]
    assert fd.references["real train digits"] < fd.references["untrained generator"]
    # True StarGAN renders read as their target colour; ideal v2 transfers are in the target domain.
    assert scores["digits-stargan", "red_accuracy"].references["true renders"] == 1.0
    assert scores["digits-stargan-v2", "latent_domain_accuracy"].references["true renders"] == 1.0


def test_text_table_has_every_column_and_every_metric(reports, tiny_judges):
    text = format_text(reports, tiny_judges, SAMPLES)
    header = next(line for line in text.splitlines() if line.startswith("Model"))
    assert header.split() == ["Model", "Metric", "Value", "Compare", "with"]
    for report in reports:
        assert report.name in text
        for score in report.scores:
            assert score.label in text


def test_markdown_table_has_a_row_per_score(reports, tiny_judges):
    lines = format_markdown(reports, tiny_judges, SAMPLES).splitlines()
    assert "| " + " | ".join(COLUMNS) + " |" in lines
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Model")]
    assert len(rows) == sum(len(keys) for keys in EXPECTED_SCORES.values())


def test_json_holds_the_judges_and_every_score(reports, tiny_judges):
    data = json.loads(json.dumps(to_json(reports, tiny_judges, SAMPLES), allow_nan=False))
    assert set(data["judges"]) >= {"digit_accuracy", "digit_accuracy_random_attributes", "domain_accuracy"}
    for model in data["models"]:
        assert set(model["scores"]) == EXPECTED_SCORES[model["name"]]


def test_cli_prints_the_table_and_calls_a_missing_model_not_available(make_tiny_registry, tiny_judges, capsys):
    only_dcgan = make_tiny_registry("digits-dcgan")
    status = main(["--models", "digits-dcgan", "digits-cgan", "--samples", str(SAMPLES)], registry=only_dcgan, judges=tiny_judges)
    out = capsys.readouterr().out
    assert status == 0
    assert "Fréchet distance" in out
    cgan_line = next(line for line in out.splitlines() if line.startswith("digits-cgan"))
    assert cgan_line.split(None, 1)[1].strip() == "not available"


def test_a_model_that_does_not_fit_the_spec_is_reported_as_failed(make_tiny_registry, tiny_judges):
    # A StarGAN with 2 attributes cannot take the spec's 3 (red, thick, slanted): the task refuses, the report says so.
    registry = make_tiny_registry("digits-stargan", labels=["a", "b"], c_dim=2)
    [report] = evaluate_models(["digits-stargan"], registry=registry, judges=tiny_judges, samples=SAMPLES)
    assert report.status == "failed" and "attributes" in report.message
    assert "failed" in format_text([report], tiny_judges, SAMPLES)


def test_cli_json_reports_a_missing_model_as_not_available(tmp_path, tiny_judges, capsys):
    from ganstudio.registry import Registry

    empty = Registry(weights_dir=tmp_path / "empty", user_dir=tmp_path / "user")
    assert main(["--models", "digits-stargan", "--json"], registry=empty, judges=tiny_judges) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["models"] == [{"name": "digits-stargan", "status": "not available", "message": data["models"][0]["message"],
                               "seconds": 0.0, "scores": {}}]


def test_cli_refuses_an_unknown_model_with_status_2(tiny_judges, capsys):
    assert main(["--models", "pix2pix-facades", "--json"], judges=tiny_judges) == 2
    assert "no evaluation for pix2pix-facades" in json.loads(capsys.readouterr().out)["error"]
