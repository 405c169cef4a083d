"""Score the built-in models through the task functions, as a user would run them.

Every model is called through ``ganstudio.tasks`` on PIL images, and its outputs are judged
from their pixels (``metrics``) or by the classifiers (``classifier``). Real digits go through
the same PIL conversion as the outputs, so quantisation treats both alike. Inputs are derived
from the held-out "test" split only, with fixed seeds, so two runs give the same numbers.

Each ``score_<model>`` function returns a list of ``Score``; ``evaluate_models`` runs the ones
asked for and reports a model that is not in the registry as "not available". The digit models are
scored by default; the models read from PyPI packages (faces, eyes, vintage photos) on request, by
measurements from pixels against an untrained generator or the input photo; the emoji models on request
too (``ganstudio.eval.emoji``: held-out emoji and Twemoji against their true drawings).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from ganstudio import images as image_io
from ganstudio import tasks
from ganstudio.errors import GanStudioError, ModelNotFoundError
from ganstudio.eval import emoji as emoji_scores
from ganstudio.eval import metrics
from ganstudio.eval.classifier import (
    DIGIT_CONFIG,
    DOMAIN_CONFIG,
    Classifier,
    ClassifierConfig,
    load_or_train,
    random_attributes,
)
from ganstudio.eval.score import Score
from ganstudio.registry import LoadedModel, Registry
from ganstudio.tasks.generate import MAX_IMAGES

logger = logging.getLogger(__name__)

IMAGE_SIZE = 32
DEFAULT_SAMPLES = 1000


# -- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelReport:
    """The scores of one model, or why there are none."""

    name: str
    status: Literal["ok", "not available", "failed"]
    scores: tuple[Score, ...] = ()
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Judges:
    """The two classifiers and how well they do on held-out real images."""

    digits: Classifier
    domains: Classifier
    digit_accuracy: float  # plain test digits
    digit_accuracy_attributes: float  # test digits with random attributes (colour, thickness, slant, shift)
    domain_accuracy: float  # test digits rendered in CycleGAN's domains A and B
    digit_samples: int  # how many held-out digits those accuracies are over


def prepare_judges(*, digit_config: ClassifierConfig = DIGIT_CONFIG, domain_config: ClassifierConfig = DOMAIN_CONFIG,
                   cache_dir: str | None = None) -> Judges:
    """Load (or train and cache) both classifiers and measure them on the test split."""
    from ganstudio.train import datasets

    digit_classifier = load_or_train(digit_config, cache_dir=cache_dir)
    domain_classifier = load_or_train(domain_config, cache_dir=cache_dir)
    digits, labels = datasets.load_digits("test")
    plain = unit_batch([datasets.cyclegan_a(d) for d in digits])
    rng = np.random.default_rng(1)
    varied = unit_batch([random_attributes(d, rng) for d in digits])
    domain_a = plain
    domain_b = unit_batch([datasets.cyclegan_b(d, rng) for d in digits])
    domain_hits = np.concatenate([domain_classifier.predict(domain_a) == 0, domain_classifier.predict(domain_b) == 1])
    return Judges(
        digits=digit_classifier,
        domains=domain_classifier,
        digit_accuracy=metrics.agreement(digit_classifier.predict(plain), labels),
        digit_accuracy_attributes=metrics.agreement(digit_classifier.predict(varied), labels),
        domain_accuracy=float(domain_hits.mean()),
        digit_samples=len(labels),
    )


# -- image plumbing --------------------------------------------------------------------------

def to_image(array: np.ndarray) -> Image.Image:
    """A 0..1 float image (H x W or H x W x 3) as the 8-bit PIL image a user would upload."""
    return image_io.array_to_pil(np.clip(array, 0.0, 1.0))


def unit_batch(items: Sequence[Image.Image | np.ndarray]) -> np.ndarray:
    """(N, 32, 32, 3) float32 in 0..1; arrays are quantised to 8 bits like images, images resized to 32 when needed."""
    return np.stack([
        metrics.as_unit_rgb(item if isinstance(item, Image.Image) else to_image(item), size=IMAGE_SIZE)
        for item in items
    ])


def _test_digits(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` held-out digits (all of them when there are fewer)."""
    from ganstudio.train import datasets

    digits, labels = datasets.load_digits("test")
    # The split is ordered round-robin over the classes, so any prefix is class-balanced.
    return digits[:count], labels[:count]


def generate_many(model: LoadedModel, count: int, *, seed: int = 0, label: int | None = None,
                  codes: dict[str, float] | None = None) -> list[Image.Image]:
    """``count`` samples with seeds ``seed .. seed + count - 1``, through ``tasks.generate`` in chunks."""
    result: list[Image.Image] = []
    while len(result) < count:
        size = min(MAX_IMAGES, count - len(result))
        result.extend(tasks.generate(model, seed=seed + len(result), num_images=size, label=label, codes=codes).images)
    return result


def untrained_copy(model: LoadedModel, *, seed: int = 0) -> LoadedModel:
    """The same architecture and config with fresh weights (the official initialisation where there is one)."""
    import torch

    from ganstudio.models import get_architecture
    from ganstudio.models.spec import config_from
    from ganstudio.registry import build_networks
    from ganstudio.runtime import TorchNetwork

    arch = get_architecture(model.arch)
    torch.manual_seed(seed)
    networks = build_networks(arch, config_from(arch.Config, model.config), init=True)
    return dataclasses.replace(model, networks={name: TorchNetwork(net, "cpu") for name, net in networks.items()})


# -- per-model scores ---------------------------------------------------------------------------

def score_dcgan(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Confidence, class coverage and Fréchet distance (classifier features) of ``samples`` generated digits.

    The distance is compared with an untrained generator of the same architecture (a weak
    baseline) and with real train digits (a floor: two real sets of the same size).
    """
    classifier = judges.digits
    fakes = unit_batch(generate_many(model, samples))
    real = RealDigits.measure(classifier, samples)
    probabilities = classifier.probabilities(fakes)
    coverage = metrics.class_coverage(probabilities.argmax(axis=1))
    return [
        Score("confidence", "mean classifier confidence", float(probabilities.max(axis=1).mean()),
              references={"real test digits": real.confidence}),
        Score("digit_shares", "share of each digit 0..9", coverage.shares, kind="shares"),
        Score("min_share", "rarest digit's share (10% = even)", coverage.min_share, references={"even": 0.1}),
        Score("entropy", "class entropy (1 = even)", coverage.entropy, kind="number", references={"even": 1.0}),
        _fd_score(model, classifier, classifier.features(fakes), real, samples),
    ]


def score_cgan(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Share of samples classified as the digit asked for (``samples / 10`` per digit), and their variety.

    Beyond the brief's accuracy: a generator that draws one image per digit scores well on
    accuracy, so the Fréchet distance and the spread of the features within each digit
    (compared with real digits of that class) show whether the seeds still matter.
    """
    classifier = judges.digits
    per_digit = max(1, samples // 10)
    outputs = [unit_batch(generate_many(model, per_digit, seed=100_000 * digit, label=digit)) for digit in range(10)]
    hits = [classifier.predict(batch) == digit for digit, batch in enumerate(outputs)]
    per_class = [float(h.mean()) for h in hits]
    worst = int(np.argmin(per_class))
    features = [classifier.features(batch) for batch in outputs]
    real = RealDigits.measure(classifier, samples)
    real_spread = np.mean([metrics.feature_spread(real.features[real.labels == digit]) for digit in range(10)])
    return [
        Score("label_accuracy", "classified as the requested digit", float(np.concatenate(hits).mean()),
              references={"chance": 0.1, "classifier on real digits": judges.digit_accuracy}),
        Score("worst_digit_accuracy", f"worst digit ({worst}) classified as requested", per_class[worst]),
        Score("within_digit_spread", "feature spread within a digit (seed variety)",
              float(np.mean([metrics.feature_spread(f) for f in features])), kind="number",
              references={"real test digits": float(real_spread)}),
        _fd_score(model, classifier, np.concatenate(features), real, samples),
    ]


def score_infogan(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """What InfoGAN's codes learnt, measured as the paper does (Chen et al. 2016, section 7.1 and figure 2).

    The categorical code: ``samples / K`` images per code value (the noise and the other codes from the
    seeds), read by the digit classifier; the code values are matched one to one with the digits so that
    the most images agree (the Hungarian algorithm on the K x 10 counts), and the accuracy is the share
    that agrees under that matching (the paper reports about 5% error on MNIST). The purity lets each
    value pick its own majority digit, so two values may share one. The continuous codes: over
    ``samples`` images with every code drawn from its seed, the correlation of each code with the stroke
    width and the slant measured from the pixels (the paper shows c1 as rotation, c2 as width).
    References: the same measurements on an untrained generator of the same architecture.
    """
    codes = {code.name: code for code in model.info.latent.codes}
    categorical = next((code for code in codes.values() if code.kind == "categorical"), None)
    continuous = [code for code in codes.values() if code.kind == "continuous"]
    untrained = untrained_copy(model)
    scores: list[Score] = []
    if categorical is not None:
        def counts_of(generator: LoadedModel) -> np.ndarray:
            per_value = max(1, samples // categorical.categories)
            counts = np.zeros((categorical.categories, 10), dtype=np.int64)
            for value in range(categorical.categories):
                batch = unit_batch(generate_many(generator, per_value, seed=100_000 * value, codes={categorical.name: value}))
                counts[value] = np.bincount(judges.digits.predict(batch), minlength=10)[:10]
            return counts

        counts, baseline = counts_of(model), counts_of(untrained)
        matching = metrics.best_matching(counts)
        mapping = ", ".join(f"{value}→{digit}" for value, digit in matching.pairs)
        scores += [
            Score("category_accuracy", f"'{categorical.name}' = digit, best one-to-one matching ({mapping})",
                  matching.accuracy, references={"paper": 0.95, "chance": 0.1,
                                                 "untrained generator": metrics.best_matching(baseline).accuracy,
                                                 "classifier on real digits": judges.digit_accuracy}),
            Score("category_purity", f"'{categorical.name}' values' majority digit share (values may share a digit)",
                  metrics.best_matching(counts).purity,
                  references={"untrained generator": metrics.best_matching(baseline).purity}),
            Score("digits_found", "digits that are some value's majority", float(len(set(counts.argmax(axis=1))) / 10),
                  references={"every digit": 1.0}),
        ]
    if continuous:
        def correlations(generator: LoadedModel) -> dict[tuple[str, str], float]:
            pictures, drawn = [], []
            while len(pictures) < samples:
                result = tasks.generate(generator, seed=500_000 + len(pictures), num_images=min(MAX_IMAGES, samples - len(pictures)))
                pictures += result.images
                drawn += result.codes
            batch = unit_batch(pictures)
            measured = {"width": [metrics.stroke_width(image) for image in batch],
                        "slant": [metrics.slant(image) for image in batch]}
            return {(code.name, what): metrics.correlation([row[code.name] for row in drawn], values)
                    for code in continuous for what, values in measured.items()}

        trained, reference = correlations(model), correlations(untrained)
        for (name, what), value in trained.items():
            label = "stroke width" if what == "width" else "slant"
            scores.append(Score(f"{name}_{what}", f"'{name}' ~ {label} (correlation)", value, kind="number",
                                references={"untrained generator": reference[name, what]}))
    scores.append(_fd_score(model, judges.digits, judges.digits.features(unit_batch(generate_many(model, samples))),
                            RealDigits.measure(judges.digits, samples), samples))
    return scores


@dataclass(frozen=True)
class RealDigits:
    """Classifier outputs on held-out digits, and the Fréchet distance of as many train digits to them (a floor)."""

    features: np.ndarray
    labels: np.ndarray
    confidence: float
    floor: float

    @classmethod
    def measure(cls, classifier: Classifier, count: int) -> RealDigits:
        from ganstudio.train import datasets

        digits, labels = _test_digits(count)
        train_digits, _ = datasets.load_digits("train")
        test_images = unit_batch(list(digits))
        features = classifier.features(test_images)
        floor = metrics.frechet_distance(classifier.features(unit_batch(list(train_digits[:len(digits)]))), features)
        confidence = float(classifier.probabilities(test_images).max(axis=1).mean())
        return cls(features=features, labels=labels, confidence=confidence, floor=floor)


def _fd_score(model: LoadedModel, classifier: Classifier, fake_features: np.ndarray, real: RealDigits, samples: int) -> Score:
    untrained = unit_batch(generate_many_like(untrained_copy(model), model, samples))
    return Score("fd", "Fréchet distance to held-out digits (classifier features)",
                 metrics.frechet_distance(fake_features, real.features), kind="number",
                 references={"untrained generator": metrics.frechet_distance(classifier.features(untrained), real.features),
                             "real train digits": real.floor})


def generate_many_like(model: LoadedModel, like: LoadedModel, samples: int) -> list[Image.Image]:
    """``samples`` images from ``model``, class-balanced (as ``score_cgan`` asks) when it is conditional."""
    if like.info.label_kind != "classes":
        return generate_many(model, samples)
    per_digit = max(1, samples // 10)
    return [image for digit in range(10) for image in generate_many(model, per_digit, seed=100_000 * digit, label=digit)]


def score_sketch2digit(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Share of outputs classified as the digit each sketch was drawn from; distance to that digit's plain image."""
    from ganstudio.train import datasets

    digits, labels = _test_digits(samples)
    rng = np.random.default_rng(2)
    sketches = [to_image(datasets.sketch_of(d, rng)) for d in digits]
    outputs = unit_batch([tasks.translate(model, sketch, direction="AtoB") for sketch in sketches])
    targets = unit_batch([datasets.cyclegan_a(d) for d in digits])
    return [
        Score("digit_kept", "output classified as the sketched digit", metrics.agreement(judges.digits.predict(outputs), labels),
              references={"classifier on real digits": judges.digit_accuracy}),
        Score("l1_to_digit", "mean abs error to the real digit (0..1)", metrics.mean_abs_error(outputs, targets), kind="number",
              references={"blank output": float(targets.mean())}),
    ]


def score_stargan(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Per attribute: share of edits whose target value is measured in the output; and identity kept.

    Inputs are test digits drawn with random attributes; targets are random combinations.
    References: the same measurement on the true render of the target (how well the pixel rules
    read the data) and on the input returned unchanged (what doing nothing scores).
    """
    from ganstudio.train import datasets

    digits, labels = _test_digits(samples)
    rng = np.random.default_rng(3)
    names = datasets.STARGAN_ATTRIBUTES
    sources = rng.integers(0, 2, size=(len(digits), len(names))).astype(bool)
    targets = rng.integers(0, 2, size=(len(digits), len(names))).astype(bool)
    inputs = [to_image(datasets.stargan_digit(d, s)) for d, s in zip(digits, sources, strict=True)]
    outputs = unit_batch([tasks.edit_attributes(model, image, attributes=_attribute_request(model, names, target))
                          for image, target in zip(inputs, targets, strict=True)])
    truths = unit_batch([datasets.stargan_digit(d, t) for d, t in zip(digits, targets, strict=True)])
    measured = _measure(outputs)
    measured_truth = _measure(truths)
    measured_input = _measure(unit_batch(inputs))
    scores = []
    for index, name in enumerate(names):
        scores.append(Score(
            f"{name}_accuracy", f"'{name}' edit accuracy (measured from pixels)",
            float((measured[:, index] == targets[:, index]).mean()),
            references={"true renders": float((measured_truth[:, index] == targets[:, index]).mean()),
                        "input unchanged": float((measured_input[:, index] == targets[:, index]).mean())},
        ))
    scores.append(Score("all_accuracy", "all three attributes right", float((measured == targets).all(axis=1).mean()),
                        references={"true renders": float((measured_truth == targets).all(axis=1).mean())}))
    scores.append(Score("identity_kept", "digit identity kept", metrics.agreement(judges.digits.predict(outputs), labels),
                        references={"classifier on true renders": metrics.agreement(judges.digits.predict(truths), labels)}))
    return scores


def _attribute_request(model: LoadedModel, names: Sequence[str], target: np.ndarray) -> dict[str, float] | list[float]:
    # By name when the model's labels are the spec's names (order-proof), else by position.
    if set(names) <= set(model.labels):
        return {name: float(value) for name, value in zip(names, target, strict=True)}
    return [float(value) for value in target]


def _measure(batch: np.ndarray) -> np.ndarray:
    return np.array([metrics.measure_attributes(image).as_tuple() for image in batch], dtype=bool)


def score_stargan_v2(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Domain accuracy and identity for latent- and reference-guided styles; reference width/slant carried over.

    Inputs are test digits in a random domain and style; the target domain is random; the
    reference is another test digit drawn in the target domain with a random style. The
    carry-over is the correlation, over the samples, between the reference's measured stroke
    width (slant) and the output's; "ideal transfer" is that correlation for the input digit
    redrawn with the reference's exact style.
    """
    from ganstudio.train import datasets

    digits, labels = _test_digits(samples)
    count = len(digits)
    rng = np.random.default_rng(4)
    domains = len(datasets.STARGAN_V2_DOMAINS)
    sources = rng.integers(0, domains, size=count)
    targets = rng.integers(0, domains, size=count)
    partners = (np.arange(count) + rng.integers(1, count, size=count)) % count if count > 1 else np.zeros(1, int)
    seeds = rng.integers(0, 2**31, size=count)
    inputs, references, ideals = [], [], []
    for index in range(count):
        inputs.append(to_image(datasets.stargan_v2_digit(digits[index], int(sources[index]), rng)[0]))
        reference, style = datasets.stargan_v2_digit(digits[partners[index]], int(targets[index]), rng)
        references.append(to_image(reference))
        base = datasets.shear(datasets.deskew(digits[index]), style["slant"])
        ideals.append(datasets.to_rgb(datasets.thicken(base, style["thickness"]), style["rgb"]))
    names = datasets.STARGAN_V2_DOMAINS
    # By name when the model's labels are the spec's domain names (order-proof), else by index.
    requests = [names[t] if set(names) <= set(model.labels) else int(t) for t in targets]
    latent = unit_batch([tasks.edit_domain(model, image, domain=domain, seed=int(seed)).image
                         for image, domain, seed in zip(inputs, requests, seeds, strict=True)])
    guided = unit_batch([tasks.edit_domain(model, image, domain=domain, reference=reference).image
                         for image, domain, reference in zip(inputs, requests, references, strict=True)])
    input_batch, reference_batch, ideal_batch = unit_batch(inputs), unit_batch(references), unit_batch(ideals)

    def family(batch: np.ndarray) -> np.ndarray:
        return np.array([metrics.color_family(image) for image in batch])

    def identity(batch: np.ndarray) -> float:
        return metrics.agreement(judges.digits.predict(batch), labels)

    def carried(measure: Callable[[np.ndarray], float], batch: np.ndarray) -> float:
        return metrics.correlation([measure(r) for r in reference_batch], [measure(o) for o in batch])

    input_domain = float((family(input_batch) == targets).mean())
    return [
        Score("latent_domain_accuracy", "latent-guided: colour family = target", float((family(latent) == targets).mean()),
              references={"true renders": float((family(ideal_batch) == targets).mean()), "input unchanged": input_domain}),
        Score("latent_identity_kept", "latent-guided: digit identity kept", identity(latent),
              references={"classifier on true renders": identity(ideal_batch)}),
        Score("reference_domain_accuracy", "reference-guided: colour family = target", float((family(guided) == targets).mean()),
              references={"true renders": float((family(ideal_batch) == targets).mean()), "input unchanged": input_domain}),
        Score("reference_identity_kept", "reference-guided: digit identity kept", identity(guided),
              references={"classifier on true renders": identity(ideal_batch)}),
        Score("width_carried", "reference-guided: stroke width corr(reference, output)", carried(metrics.stroke_width, guided),
              kind="number", references={"ideal transfer": carried(metrics.stroke_width, ideal_batch),
                                         "input unchanged": carried(metrics.stroke_width, input_batch)}),
        Score("slant_carried", "reference-guided: slant corr(reference, output)", carried(metrics.slant, guided),
              kind="number", references={"ideal transfer": carried(metrics.slant, ideal_batch),
                                         "input unchanged": carried(metrics.slant, input_batch)}),
    ]


def score_cyclegan(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Domain verdicts on translated test digits both ways, cycle reconstruction error both ways, identity on B->A."""
    from ganstudio.train import datasets

    digits, labels = _test_digits(samples)
    rng = np.random.default_rng(5)
    plain = [to_image(datasets.cyclegan_a(d)) for d in digits]
    neon = [to_image(datasets.cyclegan_b(d, rng)) for d in digits]
    to_b = [tasks.translate(model, image, direction="AtoB") for image in plain]
    to_a = [tasks.translate(model, image, direction="BtoA") for image in neon]
    back_a = unit_batch([tasks.translate(model, image, direction="BtoA") for image in to_b])
    back_b = unit_batch([tasks.translate(model, image, direction="AtoB") for image in to_a])
    plain_batch, neon_batch = unit_batch(plain), unit_batch(neon)
    to_b_batch, to_a_batch = unit_batch(to_b), unit_batch(to_a)
    domains = judges.domains
    change = metrics.mean_abs_error(plain_batch, neon_batch)
    return [
        Score("a_to_b_domain", "A->B classified as B (neon)", float((domains.predict(to_b_batch) == 1).mean()),
              references={"real B": float((domains.predict(neon_batch) == 1).mean()), "input unchanged": float((domains.predict(plain_batch) == 1).mean())}),
        Score("b_to_a_domain", "B->A classified as A (plain)", float((domains.predict(to_a_batch) == 0).mean()),
              references={"real A": float((domains.predict(plain_batch) == 0).mean()), "input unchanged": float((domains.predict(neon_batch) == 0).mean())}),
        Score("cycle_error_a", "cycle A->B->A mean abs error (0..1)", metrics.mean_abs_error(back_a, plain_batch), kind="number",
              references={"A vs B render": change}),
        Score("cycle_error_b", "cycle B->A->B mean abs error (0..1)", metrics.mean_abs_error(back_b, neon_batch), kind="number",
              references={"A vs B render": change}),
        Score("b_to_a_identity_kept", "B->A digit identity kept", metrics.agreement(judges.digits.predict(to_a_batch), labels),
              references={"classifier on real A": judges.digit_accuracy}),
    ]


# -- the pretrained models read from PyPI packages (no digit judges: measured from pixels) -----------------------

def as_unit_images(pictures: Sequence[Image.Image]) -> np.ndarray:
    """(N, H, W, 3) float32 in 0..1 at the pictures' own size."""
    return np.stack([metrics.as_unit_rgb(picture) for picture in pictures])


def score_faces(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """How often a face detector finds a face, and how varied the faces are, against an untrained generator.

    No real DigiFace-1M faces are at hand offline, so the references are the same measurements on an untrained
    generator of the same architecture. Detector: scikit-image's LBP frontal-face cascade (OpenCV's), on faces
    doubled to 128 px. Variety: mean distance between two samples in pixels (RMS, 0..1) and in HOG descriptors
    (structure: outline, eyes, mouth), and the nearest-neighbour ratio (0: near-duplicates, 1: no clusters).
    """
    fakes = as_unit_images(generate_many(model, samples))
    untrained = as_unit_images(generate_many(untrained_copy(model), samples))
    pixel_scale = np.sqrt(fakes[0].size)  # Euclidean distance -> RMS per value

    def measure(batch: np.ndarray) -> dict[str, float]:
        pixel_mean, _ = metrics.diversity(batch)
        hog_mean, hog_ratio = metrics.diversity(metrics.hog_features(batch))
        found = float(np.mean([metrics.face_found(image) for image in batch]))
        return {"found": found, "pixel": float(pixel_mean / pixel_scale), "hog": hog_mean, "ratio": hog_ratio}

    trained, baseline = measure(fakes), measure(untrained)
    return [
        Score("face_found", "a face detector finds a face", trained["found"],
              references={"untrained generator": baseline["found"]}),
        Score("pixel_diversity", "mean RMS distance between two faces (0..1)", trained["pixel"], kind="number",
              references={"untrained generator": baseline["pixel"]}),
        Score("hog_diversity", "mean HOG distance between two faces", trained["hog"], kind="number",
              references={"untrained generator": baseline["hog"]}),
        Score("nearest_neighbour_ratio", "nearest other face / mean distance (HOG; 0 = duplicates)", trained["ratio"],
              kind="number", references={"untrained generator": baseline["ratio"]}),
    ]


def score_eyes(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """How well the colour asked for can be told from the eye drawn: nearest-centroid accuracy on iris colour.

    ``samples / num_classes`` eyes per class (seeds ``100_000 * class + i``); the centroids of each class's
    iris-colour features (``metrics.iris_colour_features``: CIELAB means, chroma, saturation, pupil darkness
    over the central disc) are taken on the first half of the seeds, the second half is classified.
    """
    labels = model.labels or tuple(str(index) for index in range(int(model.config["num_classes"])))
    per_class = max(4, samples // len(labels))

    def features(generator: LoadedModel) -> list[np.ndarray]:
        return [np.stack([metrics.iris_colour_features(image) for image in as_unit_images(
            generate_many(generator, per_class, seed=100_000 * index, label=index))]) for index in range(len(labels))]

    def classify(per_label: list[np.ndarray]) -> metrics.CentroidResult:
        half = per_class // 2
        return metrics.nearest_centroid_accuracy([f[:half] for f in per_label], [f[half:] for f in per_label])

    result, baseline = classify(features(model)), classify(features(untrained_copy(model)))
    worst = int(np.argmin(result.per_class))
    confusion = result.confusion.astype(float)
    np.fill_diagonal(confusion, 0)
    mixed_up = np.unravel_index(int(confusion.argmax()), confusion.shape)
    share = confusion[mixed_up] / max(result.confusion[mixed_up[0]].sum(), 1)
    return [
        Score("colour_accuracy", "colour asked for = nearest iris-colour centroid", result.accuracy,
              references={"chance": 1 / len(labels), "untrained generator": baseline.accuracy}),
        Score("per_colour_accuracy", f"per colour ({', '.join(labels)})", result.per_class, kind="shares"),
        Score("worst_colour_accuracy", f"worst colour ({labels[worst]})", result.per_class[worst]),
        Score("most_confused", f"most confused: {labels[mixed_up[0]]} read as {labels[mixed_up[1]]}", float(share)),
    ]


VINTAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def score_vintage(model: LoadedModel, judges: Judges, samples: int) -> list[Score]:
    """Colour statistics of scikit-image's photos before and after the translation (``samples`` is not used).

    Saturation (HSV S), contrast (standard deviation of L*), warmth (mean b*: positive = yellow) and the
    saturation-weighted mean hue shift, averaged over the photos; and how much the pixels change.
    """
    from skimage import data

    before, after = [], []
    for name in VINTAGE_PHOTOS:
        photo = Image.fromarray(getattr(data, name)())
        before.append(metrics.as_unit_rgb(photo))
        after.append(metrics.as_unit_rgb(tasks.translate(model, photo)))
    stats_before = [metrics.colour_statistics(image) for image in before]
    stats_after = [metrics.colour_statistics(image) for image in after]

    def mean(stats: list[metrics.ColourStatistics], field_name: str) -> float:
        return float(np.mean([getattr(item, field_name) for item in stats]))

    return [
        Score("saturation", "mean saturation (HSV S, 0..1)", mean(stats_after, "saturation"), kind="number",
              references={"before": mean(stats_before, "saturation")}),
        Score("contrast", "contrast (std of L*, 0..100)", mean(stats_after, "contrast"), kind="number",
              references={"before": mean(stats_before, "contrast")}),
        Score("warmth", "warmth (mean b*, + = yellow)", mean(stats_after, "warmth"), kind="number",
              references={"before": mean(stats_before, "warmth")}),
        Score("hue_shift", "mean hue shift (degrees, + = towards yellow from red)",
              float(np.mean([metrics.hue_shift(b, a) for b, a in zip(before, after, strict=True)])), kind="number"),
        Score("pixel_change", "mean abs pixel change (0..1)",
              float(np.mean([np.abs(a - b).mean() for b, a in zip(before, after, strict=True)])), kind="number"),
    ]


SCORERS: dict[str, Callable[[LoadedModel, Judges, int], list[Score]]] = {
    "digits-dcgan": score_dcgan,
    "digits-cgan": score_cgan,
    "digits-infogan": score_infogan,
    "sketch2digit": score_sketch2digit,
    "digits-cyclegan": score_cyclegan,
    "digits-stargan": score_stargan,
    "digits-stargan-v2": score_stargan_v2,
}
BUILT_IN_MODELS = tuple(SCORERS)
# Scored on request (--models): their measurements need no judges, but take minutes on a CPU.
PACKAGE_SCORERS: dict[str, Callable[[LoadedModel, Judges, int], list[Score]]] = {
    "faces-dcgan": score_faces,
    "eyes-cgan": score_eyes,
    "vintage-photo": score_vintage,
}
# Also on request: the emoji models, judged on held-out emoji and Twemoji (needs the emoji arrays:
# python -m ganstudio.train.emoji --fetch; their category classifier is trained once and cached).
EMOJI_SCORERS: dict[str, Callable[[LoadedModel, Judges, int], list[Score]]] = {
    "emoji-sketch2color": emoji_scores.score_sketch2color,
    "emoji-noto2openmoji": emoji_scores.score_noto2openmoji,
}
PACKAGE_MODELS = (*PACKAGE_SCORERS, *EMOJI_SCORERS)
ALL_SCORERS = {**SCORERS, **PACKAGE_SCORERS, **EMOJI_SCORERS}


def check_request(names: Sequence[str], samples: int) -> None:
    """Refuse names without a scorer and sample counts below 2, before anything is trained or loaded.

    Raises:
        GanStudioError: what is wrong, and what is accepted.
    """
    unknown = [name for name in names if name not in ALL_SCORERS]
    if unknown:
        raise GanStudioError(f"no evaluation for {', '.join(unknown)}. Built-in models: {', '.join(ALL_SCORERS)}.")
    if samples < 2:
        raise GanStudioError(f"--samples must be at least 2 (a Fréchet distance needs two samples), not {samples}.")


def evaluate_models(names: Sequence[str] = BUILT_IN_MODELS, *, registry: Registry | None = None, judges: Judges | None,
                    samples: int = DEFAULT_SAMPLES, device: Literal["auto", "cpu", "cuda"] = "auto") -> list[ModelReport]:
    """Score each named built-in model; one missing from the registry is "not available", one that errors "failed".

    Raises:
        GanStudioError: a name that is not a built-in model (there is no scorer for it), or a bad sample count.
    """
    check_request(names, samples)
    registry = registry or Registry()
    reports = []
    for name in names:
        started = time.perf_counter()
        try:
            model = registry.load(name, device=device)
        except ModelNotFoundError as error:  # not in the manifest, or its file is missing
            reports.append(ModelReport(name, "not available", message=str(error)))
            continue
        except GanStudioError as error:  # a file that is there but does not load
            reports.append(ModelReport(name, "failed", message=str(error)))
            continue
        try:
            scores = ALL_SCORERS[name](model, judges, samples)
        except GanStudioError as error:  # e.g. a model that takes other labels than the spec's
            logger.warning("evaluating %s failed: %s", name, error)
            reports.append(ModelReport(name, "failed", message=str(error), seconds=time.perf_counter() - started))
            continue
        except Exception as error:  # a bug: keep the other models' rows, but show the traceback
            logger.exception("evaluating %s failed unexpectedly", name)
            reports.append(ModelReport(name, "failed", message=f"{type(error).__name__}: {error}",
                                       seconds=time.perf_counter() - started))
            continue
        reports.append(ModelReport(name, "ok", tuple(scores), seconds=time.perf_counter() - started))
    return reports
