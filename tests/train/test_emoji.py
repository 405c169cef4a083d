"""The emoji data step on fake npm packages built here: no npm, no network.

The fake packages have the real layouts (emoji-datasource's emoji.json and img/<set>/64/*.png, OpenMoji's
color/ and black/ SVGs, Iconify's icons.json and chars.json) and a dozen emoji. Every image is filled with
a colour whose red channel codes its emoji, so a pairing can be checked pixel by pixel.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.errors import DataError, IntegrityError
from ganstudio.train import emoji as E

# (unified as emoji.json writes it, name, category, skin variations as {tones: unified}, drawn by Twitter)
FAKE_EMOJI = [
    ("1F600", "GRINNING FACE", "Smileys & Emotion", {}, True),
    ("1F468", "MAN", "People & Body", {"1F3FB": "1F468-1F3FB", "1F3FF": "1F468-1F3FF"}, True),
    ("1F469", "WOMAN", "People & Body", {"1F3FD": "1F469-1F3FD"}, True),
    ("1F9D1", "ADULT", "People & Body", {}, True),
    ("1F468-200D-1F9B0", "MAN: RED HAIR", "People & Body", {"1F3FB": "1F468-1F3FB-200D-1F9B0"}, True),
    ("1F471-200D-2640-FE0F", "WOMAN: BLOND HAIR", "People & Body", {"1F3FC": "1F471-1F3FC-200D-2640-FE0F"}, True),
    ("1F475", "OLDER WOMAN", "People & Body", {}, True),
    ("1F9D1-200D-1F9B1", "PERSON: CURLY HAIR", "People & Body", {}, True),
    ("1F9D1-200D-1F91D-200D-1F9D1", "PEOPLE HOLDING HANDS", "People & Body",
     {"1F3FB-1F3FF": "1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF"}, False),
    ("0023-FE0F-20E3", "KEYCAP: #", "Symbols", {}, True),
]
FLUENT_LACKS = "1F475"  # as the real Fluent lacks the flags: a vendor need not draw every emoji
OPENMOJI_EXTRA = "E000"  # OpenMoji's own extras are not in emoji.json


def all_unified() -> list[str]:
    return [u for u, _, _, variations, _ in FAKE_EMOJI for u in [u, *variations.values()]]


def code_of(key: str) -> int:
    """The red value every vendor fills emoji ``key`` with."""
    keys = [E.emoji_key(u) for u in all_unified()]
    return 10 + 10 * keys.index(E.emoji_key(key))


def fake_emoji_json() -> bytes:
    def image_fields(u: str, twitter: bool) -> dict:
        return {"unified": u, "image": f"{u.lower()}.png", "has_img_google": True, "has_img_twitter": twitter}

    records = []
    for order, (unified, name, category, variations, twitter) in enumerate(FAKE_EMOJI):
        records.append({
            **image_fields(unified, twitter), "name": name, "short_name": name.lower().replace(" ", "_"),
            "category": category, "subcategory": "person", "sort_order": order,
            "skin_variations": {tones: image_fields(u, twitter) for tones, u in variations.items()} or None,
        })
    return json.dumps(records).encode()


def png_bytes(red: int, green: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 64), (red, green, 0, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


def square_svg(red: int, green: int, side: int = 72) -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}">'
            f'<rect width="{side}" height="{side}" fill="rgb({red},{green},0)"/></svg>').encode()


def write_tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def fake_packages(folder: Path, *, twitter_catalog: bytes | None = None) -> dict[str, E.NpmPackage]:
    """Tarballs of the four packages in ``folder`` and NpmPackages pinning them (file:// URLs)."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = fake_emoji_json()
    twitter_drawn = [u for u, _, _, variations, twitter in FAKE_EMOJI if twitter for u in [u, *variations.values()]]
    files = {
        "emoji-datasource-google": {"emoji.json": catalog, **{
            f"img/google/64/{u.lower()}.png": png_bytes(code_of(u), 1) for u in all_unified()}},
        "emoji-datasource-twitter": {"emoji.json": twitter_catalog or catalog, **{
            f"img/twitter/64/{u.lower()}.png": png_bytes(code_of(u), 2) for u in twitter_drawn}},
        "openmoji": {
            **{f"color/svg/{u}.svg": square_svg(code_of(u), 3) for u in all_unified()},
            **{f"black/svg/{u}.svg": square_svg(code_of(u), 0) for u in all_unified()},
            f"color/svg/{OPENMOJI_EXTRA}.svg": square_svg(250, 3),
            "data/openmoji.json": b"[]",
        },
        "@iconify-json/fluent-emoji-flat": {
            # Iconify writes code points in lower case and often without FE0F.
            "chars.json": json.dumps({E.emoji_key(u).lower(): f"icon-{i}" for i, u in enumerate(all_unified())
                                      if E.emoji_key(u) != FLUENT_LACKS}).encode(),
            "icons.json": json.dumps({"prefix": "fluent-emoji-flat", "width": 32, "height": 32, "icons": {
                f"icon-{i}": {"body": f'<rect width="32" height="32" fill="rgb({code_of(u)},4,0)"/>'}
                for i, u in enumerate(all_unified())}}).encode(),
        },
    }
    packages = {}
    for name, members in files.items():
        real = E.PACKAGES[name]
        path = write_tarball(folder / real.filename, members)
        packages[name] = E.NpmPackage(name, real.version, E.integrity_of(path), path.as_uri(), "test")
    return packages


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    """A cache built from the fake packages (downloaded from file:// URLs, as where npm is missing)."""
    root = tmp_path_factory.mktemp("emoji")
    packages = fake_packages(root / "registry")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(root / "no-npm-here"))
        report = E.build_emoji_data(cache_dir=cache, packages=packages)
    return cache, report


# --------------------------------------------------------------------------- keys and labels


def test_keys_drop_fe0f_and_ignore_case():
    assert E.emoji_key("1f471-200d-2642-fe0f") == "1F471-200D-2642"
    assert E.emoji_key("0023-FE0F-20E3") == E.emoji_key("0023-20e3") == "0023-20E3"
    assert E.base_key("1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF") == "1F9D1-200D-1F91D-200D-1F9D1"
    assert E.base_key("1F3FB") == "1F3FB"  # the swatch itself
    with pytest.raises(ValueError, match="code point"):
        E.emoji_key("man-red-hair")


@pytest.mark.parametrize(("key", "expected"), [
    ("1F468", ("man", "dark", False, None)),
    ("1F469-1F3FD", ("woman", "dark", False, "skin_medium")),
    ("1F9D1", ("person", "dark", False, None)),
    ("1F468-1F3FB-200D-1F9B0", ("man", "red", False, "skin_light")),
    ("1F469-200D-1F9B3", ("woman", "white", False, None)),
    ("1F471", ("person", "blond", False, None)),
    ("1F471-1F3FC-200D-2640-FE0F", ("woman", "blond", False, "skin_medium_light")),
    ("1F471-200D-2642", ("man", "blond", False, None)),
    ("1F475-1F3FF", ("woman", None, True, "skin_dark")),
    ("1F9D3", ("person", None, True, None)),
    ("1F9D1-200D-1F9B1", ("person", "curly", False, None)),
    ("1F468-1F3FE-200D-1F9B2", ("man", "bald", False, "skin_medium_dark")),
])
def test_face_labels_come_from_the_zwj_sequence_and_skin_tone(key, expected):
    label = E.face_label(key)
    assert (label.gender, label.hair, label.older, label.skin) == expected
    assert label.included == (label.hair not in ("curly", "bald"))


@pytest.mark.parametrize("key", [
    "1F600",  # a smiley
    "1F466", "1F476",  # boy, baby: another age
    "1F9D4-200D-2642-FE0F",  # man with beard: no beard attribute
    "1F64B-200D-2642-FE0F",  # man raising hand: a gesture, not a face
    "1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF",  # two people
    "1F474-200D-1F9B0",  # older + hair is no Unicode sequence
    "1F468-200D-1F4BB",  # a man technologist: a job
])
def test_other_emoji_have_no_face_label(key):
    assert E.face_label(key) is None


def test_face_vector_order_male_for_men_only_and_light_default_hair_unlabelled():
    vector = dict(zip(E.FACE_ATTRIBUTES, E.face_label("1F468-1F3FB-200D-1F9B0").vector(), strict=True))
    assert {name for name, value in vector.items() if value} == {"red_hair", "male", "skin_light"}
    assert E.FACE_ATTRIBUTES == ("dark_hair", "blond_hair", "red_hair", "white_hair", "male", "older",
                                 "skin_light", "skin_medium_light", "skin_medium", "skin_medium_dark", "skin_dark")
    assert E.face_label("1F9D1").vector()[E.FACE_ATTRIBUTES.index("male")] == 0  # a person is not male
    assert E.face_label("1F468").vector().tolist()[:6] == [1, 0, 0, 0, 1, 0]
    # The default hair is drawn amber on yellow by Twemoji, OpenMoji and Fluent, and blond at medium-light
    # by all four: no hair label there.
    assert E.face_label("1F468", vendor="twemoji").hair is None
    assert E.face_label("1F468", vendor="noto").hair == "dark"
    assert E.face_label("1F468-1F3FB", vendor="twemoji").hair == "dark"
    assert E.face_label("1F469-1F3FC", vendor="noto").hair is None
    assert E.face_label("1F469-1F3FC").hair == "dark"  # Unicode's meaning, whoever draws it
    assert E.face_label("1F471-1F3FC", vendor="noto").hair == "blond"  # a hair colour named stays


def test_catalog_lists_each_variation_after_its_base_with_a_name():
    entries = E.read_catalog(fake_emoji_json())
    keys = [entry.key for entry in entries]
    assert keys[:4] == ["1F600", "1F468", "1F468-1F3FB", "1F468-1F3FF"]
    assert len(keys) == len(all_unified()) == len(set(keys))
    by_key = {entry.key: entry for entry in entries}
    assert by_key["1F468-1F3FB-200D-1F9B0"].name == "MAN: RED HAIR, LIGHT SKIN TONE"
    assert by_key["1F469-1F3FD"].name == "WOMAN: MEDIUM SKIN TONE"
    assert by_key["1F468-1F3FB-200D-1F9B0"].base == "1F468-200D-1F9B0"
    assert "twitter" not in by_key["1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF"].image_sets
    with pytest.raises(DataError, match="emoji-datasource"):
        E.read_catalog(b'[{"name": "NO KEYS"}]')


# --------------------------------------------------------------------------- splits


def test_heldout_rule_is_pinned_shared_by_skin_tones_and_about_one_in_ten():
    # Pinned: changing the rule would move emoji between splits and leak test emoji into retrained models.
    assert E.is_heldout("1F469-200D-1F9B0") and E.is_heldout("1F471-200D-2640-FE0F")
    assert not E.is_heldout("1F468") and not E.is_heldout("1F600")
    assert E.is_heldout("1F469-1F3FF-200D-1F9B0")  # a skin tone follows its base
    assert {E.is_heldout(f"1F468-{tone}") for tone in E.SKIN_TONES} == {E.is_heldout("1F468")}
    fraction = np.mean([E.is_heldout(f"{code:X}") for code in range(0x1F300, 0x1F300 + 3000)])
    assert 0.08 < fraction < 0.12


def test_twemoji_is_never_in_a_training_split(built):
    cache, _ = built
    for request in (lambda: E.vendor_set("twemoji", split="train", cache_dir=cache),
                    lambda: E.paired_set("openmoji_line", "twemoji", split="train", cache_dir=cache),
                    lambda: E.face_set(vendors=("noto", "twemoji"), split="train", cache_dir=cache)):
        with pytest.raises(ValueError, match="held out"):
            request()
    assert len(E.vendor_set("twemoji", split="all", cache_dir=cache)["keys"]) > 0
    assert set(E.vendor_set("twemoji", split="test", cache_dir=cache)["keys"]) <= set(
        E.vendor_set("twemoji", split="all", cache_dir=cache)["keys"])


@pytest.mark.parametrize("vendor", ["noto", "openmoji", "openmoji_line", "fluent"])
def test_every_vendor_splits_by_the_heldout_rule(built, vendor):
    cache, _ = built
    train = set(E.vendor_set(vendor, split="train", cache_dir=cache)["keys"])
    test = set(E.vendor_set(vendor, split="test", cache_dir=cache)["keys"])
    everything = set(E.vendor_set(vendor, split="all", cache_dir=cache)["keys"])
    assert train and test and not train & test and train | test == everything
    assert all(E.is_heldout(key) for key in test) and not any(E.is_heldout(key) for key in train)


# --------------------------------------------------------------------------- building and reading


def test_build_keeps_every_catalog_emoji_a_vendor_draws(built):
    cache, report = built
    catalog = {entry.key for entry in E.load_catalog(cache_dir=cache)}
    counts = {label: item["count"] for label, item in report["arrays"].items()}
    # 16 emoji; Twitter does not draw the two "holding hands", Fluent lacks the older woman.
    assert counts == {"noto-64": 16, "twemoji-64": 14, "openmoji-64": 16, "openmoji-128": 16, "openmoji_line-64": 16,
                      "openmoji_line-128": 16, "fluent-64": 15, "fluent-128": 15}
    keys, rgba = E.load_vendor("openmoji", size=128, cache_dir=cache)
    assert rgba.shape == (16, 128, 128, 4) and rgba.dtype == np.uint8
    assert set(keys.tolist()) == catalog  # OpenMoji's extra is dropped: emoji.json has no label for it
    assert FLUENT_LACKS not in E.load_vendor("fluent", cache_dir=cache)[0].tolist()
    assert "1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF" not in E.load_vendor("twemoji", cache_dir=cache)[0].tolist()
    with pytest.raises(ValueError, match="64"):
        E.vendor_set("noto", size=128, cache_dir=cache)


def test_pairs_are_the_same_emoji_in_both_vendors(built):
    cache, _ = built
    pairs = E.paired_set("fluent", "noto", split="all", cache_dir=cache)
    assert pairs["A"].shape == pairs["B"].shape == (15, 64, 64, 3) and pairs["A"].dtype == np.float32
    for key, a, b in zip(pairs["keys"], pairs["A"], pairs["B"], strict=True):
        # Fluent names 0023-20E3 and 1F471-200D-2640 without FE0F; emoji.json with it.
        assert round(a[32, 32, 0] * 255) == round(b[32, 32, 0] * 255) == code_of(key)
        assert round(a[32, 32, 1] * 255) == 4 and round(b[32, 32, 1] * 255) == 1
    assert "0023-20E3" in pairs["keys"] and "1F471-200D-2640" in pairs["keys"]
    four = E.paired_keys(["noto", "openmoji", "openmoji_line", "twemoji"], split="all", cache_dir=cache)
    assert len(four) == 14 and "1F475" in four and "1F9D1-200D-1F91D-200D-1F9D1" not in four


def test_face_set_labels_each_vendor_and_leaves_out_curly_hair_and_groups(built):
    cache, _ = built
    faces = E.face_set(vendors=("noto", "openmoji", "fluent"), split="all", cache_dir=cache)
    n = len(faces["keys"])
    assert faces["images"].shape == (n, 64, 64, 3) and faces["attributes"].shape == (n, len(E.FACE_ATTRIBUTES))
    # 3 men, 2 women, 1 adult, 2 red-haired men, 2 blond women, 1 older woman; Fluent lacks the older woman.
    assert np.unique(faces["vendors"], return_counts=True)[1].tolist() == [10, 11, 11]  # fluent, noto, openmoji
    assert "1F9D1-200D-1F9B1" not in faces["keys"]  # curly
    assert "1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FF" not in faces["keys"]  # two people
    row = list(zip(faces["vendors"], faces["keys"], strict=True)).index(("noto", "1F468-1F3FB-200D-1F9B0"))
    assert faces["attributes"][row].tolist() == E.face_label("1F468-1F3FB-200D-1F9B0").vector().tolist()
    assert faces["genders"][row] == "man"
    yellow_man = list(zip(faces["vendors"], faces["keys"], strict=True)).index(("openmoji", "1F468"))
    assert faces["attributes"][yellow_man][:4].tolist() == [0, 0, 0, 0]  # OpenMoji's amber default hair
    assert faces["attributes"][yellow_man][E.FACE_ATTRIBUTES.index("male")] == 1
    with pytest.raises(ValueError, match="line art"):
        E.face_set(vendors=("openmoji_line",), cache_dir=cache)
    counts = E.face_counts(vendors=("noto",), cache_dir=cache)["noto"]
    assert sum(counts["images"].values()) == 11 and sum(counts["curly"].values()) == 1
    assert sum(counts["male"].values()) == 5 and sum(counts["person"].values()) == 1
    assert counts["blond_hair"] == {"train": 0, "test": 2}  # the blond woman is a held-out emoji


def test_a_second_build_reuses_the_cache(built):
    cache, _ = built
    packages = {name: E.NpmPackage(name, p.version, E.integrity_of(cache / "npm" / p.filename), "file:///nowhere", "test")
                for name, p in E.PACKAGES.items()}
    stamps = {path: path.stat().st_mtime_ns for path in (cache / "emoji").iterdir()}
    report = E.build_emoji_data(cache_dir=cache, packages=packages)
    assert not report["packages"]  # nothing to build, so no tarball is even opened
    assert not any(item["built"] for item in report["arrays"].values())
    assert {path: path.stat().st_mtime_ns for path in (cache / "emoji").iterdir()} == stamps


def test_reading_an_unbuilt_cache_says_how_to_build_it(tmp_path):
    with pytest.raises(DataError, match="--fetch"):
        E.load_catalog(cache_dir=tmp_path)
    with pytest.raises(DataError, match="--fetch"):
        E.vendor_set("noto", cache_dir=tmp_path)


def test_twitter_catalog_must_match_the_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    packages = fake_packages(tmp_path / "registry", twitter_catalog=b"[]")
    with pytest.raises(DataError, match="another emoji.json"):
        E.build_emoji_data(vendors=("twemoji",), cache_dir=tmp_path / "cache", packages=packages)


# --------------------------------------------------------------------------- integrity


def test_a_tampered_tarball_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    packages = fake_packages(tmp_path / "registry")
    package = packages["openmoji"]
    tarball = Path(package.tarball.removeprefix("file://"))
    E.verify_integrity(tarball, package)
    good = tarball.read_bytes()
    tarball.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit
    with pytest.raises(IntegrityError, match="not the pinned openmoji@17.0.0"):
        E.verify_integrity(tarball, package)
    # A tampered download never enters the cache ...
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError):
        E.fetch_package(package, cache_dir=cache)
    assert [path.name for path in (cache / "npm").iterdir()] == []
    # ... a good one does, and a cached copy altered later is refused on use.
    tarball.write_bytes(good)
    cached = E.fetch_package(package, cache_dir=cache)
    assert cached == cache / "npm" / "openmoji-17.0.0.tgz" and cached.read_bytes() == good
    cached.write_bytes(good + b"\0")
    with pytest.raises(IntegrityError):
        E.fetch_package(package, cache_dir=cache)
    assert E.integrity_of(tarball).startswith("sha512-")


def test_pins_are_sha512_and_name_the_files_npm_writes():
    for package in E.PACKAGES.values():
        assert package.integrity.startswith("sha512-") and len(package.integrity) == 7 + 88
        assert package.tarball.startswith("https://registry.npmjs.org/")
    assert E.PACKAGES["@iconify-json/fluent-emoji-flat"].filename == "iconify-json-fluent-emoji-flat-1.2.6.tgz"
    assert {vendor.package for vendor in E.VENDORS.values()} <= set(E.PACKAGES)


# --------------------------------------------------------------------------- images


def test_rasterize_svg_gives_straight_alpha_rgba_and_composites_on_white():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
           '<rect width="5" height="10" fill="#ff0000"/><rect x="5" width="5" height="5" fill="#0000ff" fill-opacity="0.5"/></svg>')
    rgba = E.rasterize_svg(svg, 8)
    assert rgba.shape == (8, 8, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0].tolist() == [255, 0, 0, 255]
    assert rgba[0, 7].tolist() == [0, 0, 255, 128]  # straight, not premultiplied
    assert rgba[7, 7, 3] == 0
    rgb = E.composite_on_white(rgba)
    assert rgb.dtype == np.float32 and rgb.shape == (8, 8, 3)
    assert rgb[0, 0].tolist() == [1.0, 0.0, 0.0] and rgb[7, 7].tolist() == [1.0, 1.0, 1.0]
    assert rgb[0, 7] == pytest.approx([127 / 255, 127 / 255, 1.0], abs=1 / 255)
    assert E.rasterize_svg(svg, 128).shape == (128, 128, 4)


def test_a_wide_drawing_is_centred_on_a_transparent_square():
    wide = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 10"><rect width="20" height="10" fill="#000"/></svg>'
    alpha = E.rasterize_svg(wide, 8)[..., 3]
    assert alpha[:2].max() == 0 and alpha[-2:].max() == 0 and alpha[2:6].min() == 255
    svg = E.iconify_svg({"body": "<path/>", "height": 33}, width=32, height=32)
    assert 'viewBox="-0.5 0 33 33"' in svg


def test_an_unreadable_svg_is_an_image_error():
    from ganstudio.errors import ImageError

    with pytest.raises(ImageError, match="resvg"):
        E.rasterize_svg("<svg", 8)
