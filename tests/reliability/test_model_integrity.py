"""A tampered, mismatched or malformed model bundle is refused with ModelError and a clear
message, never another exception (the app catches ModelError and stays usable to view images)."""

from __future__ import annotations

import copy
import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from converter import model_folder
from pneumonia_core.metadata import METADATA_FILE, sha256_bytes, sha256_file
from pneumonia_core.model import ModelBundle, ModelError
from pneumonia_core.pipeline import STATUS_ERROR, classify_file
from pneumonia_core.scope_arrays import ARRAYS_FILE
from tests.conftest import synthetic_xray

pytestmark = pytest.mark.timeout(120)


def make_bundle(tmp: Path, src: Path, meta: dict | None = None, raw: str | None = None) -> Path:
    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    original = json.loads((src / METADATA_FILE).read_text())
    shutil.copyfile(src / original["file"], folder / original["file"])
    if (src / ARRAYS_FILE).is_file():  # the guard's statistics the metadata names
        shutil.copyfile(src / ARRAYS_FILE, folder / ARRAYS_FILE)
    text = raw if raw is not None else json.dumps(original if meta is None else meta)
    (folder / METADATA_FILE).write_text(text, encoding="utf-8")
    return folder


def edited(src: Path, *path_and_value: object) -> dict:
    *keys, value = path_and_value
    meta = copy.deepcopy(json.loads((src / METADATA_FILE).read_text()))
    node = meta
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return meta


def test_the_shipped_bundle_loads(model_dir: Path) -> None:
    bundle = ModelBundle.load(model_dir)
    assert bundle.metadata.sha256 == sha256_file(model_dir / bundle.metadata.file)


@pytest.mark.parametrize("flip_at", [0, 1000, -1])
def test_tampered_model_file_fails_the_sha256_check(tmp_path: Path, model_dir: Path,
                                                    flip_at: int) -> None:
    folder = make_bundle(tmp_path, model_dir)
    model = folder / "model.tflite"
    data = bytearray(model.read_bytes())
    data[flip_at] ^= 0x01  # one bit
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"integrity check.*SHA-256.*does not match"):
        ModelBundle.load(folder)


def test_model_replaced_by_garbage_is_refused(tmp_path: Path, model_dir: Path) -> None:
    folder = make_bundle(tmp_path, model_dir)
    (folder / "model.tflite").write_bytes(b"\0" * 4096)
    with pytest.raises(ModelError, match="integrity check"):
        ModelBundle.load(folder)


def test_garbage_model_with_a_matching_hash_is_refused_by_litert(tmp_path: Path,
                                                                 model_dir: Path) -> None:
    """Someone re-hashed a broken file into metadata.json: the runtime still refuses it."""
    folder = make_bundle(tmp_path, model_dir)
    (folder / "model.tflite").write_bytes(b"TFL3" + b"\x07" * 4096)
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta["sha256"] = sha256_file(folder / "model.tflite")
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="LiteRT could not load"):
        ModelBundle.load(folder)


@pytest.mark.parametrize("shape", [[1, 128, 128, 1], [1, 224, 224, 3], [1, 150, 150, 3]])
def test_model_whose_input_shape_differs_from_metadata_is_refused(tmp_path: Path, model_dir: Path,
                                                                  shape: list[int]) -> None:
    folder = make_bundle(tmp_path, model_dir, edited(model_dir, "input", "shape", shape))
    with pytest.raises(ModelError, match=r"input shape .* does not match metadata"):
        ModelBundle.load(folder)


def test_missing_metadata_and_missing_model(tmp_path: Path, model_dir: Path) -> None:
    folder = make_bundle(tmp_path, model_dir)
    (folder / "model.tflite").unlink()
    with pytest.raises(ModelError, match="Cannot read model file"):
        ModelBundle.load(folder)
    (folder / METADATA_FILE).unlink()
    with pytest.raises(ModelError, match="metadata not found"):
        ModelBundle.load(folder)
    with pytest.raises(ModelError, match="not found"):
        ModelBundle.load(tmp_path / "no-such-folder")


MALFORMED: list[tuple[str, Callable[[Path], dict | str], str]] = [
    ("empty file", lambda s: "", r"not valid JSON"),
    ("truncated JSON", lambda s: (s / METADATA_FILE).read_text()[:200], r"not valid JSON"),
    ("binary junk", lambda s: "\x00\x01\x02", r"not valid JSON"),
    ("a JSON list", lambda s: "[1, 2]", r"JSON object"),
    ("schema_version 2", lambda s: edited(s, "schema_version", 2), r"schema_version 2"),
    ("schema_version '1'", lambda s: edited(s, "schema_version", "1"), r"schema_version"),
    ("schema_version missing", lambda s: {k: v for k, v in edited(s, "name", "x").items()
                                          if k != "schema_version"}, r"schema_version"),
    ("sha256 missing", lambda s: {k: v for k, v in edited(s, "name", "x").items() if k != "sha256"},
     r"lacks required field.*sha256"),
    ("sha256 a number", lambda s: edited(s, "sha256", 5), r"sha256"),
    ("sha256 too short", lambda s: edited(s, "sha256", "abc"), r"sha256"),
    ("input not an object", lambda s: edited(s, "input", [1, 2]), r"input"),
    ("input.shape null", lambda s: edited(s, "input", "shape", None), r"input.shape"),
    ("input.shape strings", lambda s: edited(s, "input", "shape", [1, "224", "224", 1]), r"input.shape"),
    ("input.shape 3-D", lambda s: edited(s, "input", "shape", [1, 224, 224]), r"input.shape"),
    ("outputs a list", lambda s: edited(s, "outputs", ["logit"]), r"outputs"),
    ("outputs without logit", lambda s: edited(s, "outputs", {}), r"logit"),
    ("output name unknown", lambda s: edited(s, "outputs", "logit", "name", "nope"), r"no output 'nope'"),
    ("threshold text", lambda s: edited(s, "threshold", "value", "high"), r"threshold"),
    ("threshold 1.5", lambda s: edited(s, "threshold", "value", 1.5), r"threshold"),
    ("threshold null", lambda s: edited(s, "threshold", None), r"threshold"),
    ("calibration text", lambda s: edited(s, "calibration", "none"), r"calibration"),
    ("temperature 0", lambda s: edited(s, "calibration", {"method": "temperature", "temperature": 0}),
     r"temperature"),
    ("labels null", lambda s: edited(s, "labels", None), r"labels"),
    ("positive label unknown", lambda s: edited(s, "positive_label", "COVID"), r"positive_label"),
    ("file null", lambda s: edited(s, "file", None), r"file must be"),
    ("file outside the folder", lambda s: edited(s, "file", "../../etc/passwd"), r"file must be"),
    ("scope a list", lambda s: edited(s, "scope", [1]), r"scope"),
]


@pytest.mark.parametrize("label,make,pattern", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_metadata_is_refused_clearly(tmp_path: Path, model_dir: Path, label: str,
                                               make: Callable[[Path], dict | str],
                                               pattern: str) -> None:
    content = make(model_dir)
    if isinstance(content, str):
        folder = make_bundle(tmp_path, model_dir, raw=content)
    else:
        folder = make_bundle(tmp_path, model_dir, meta=content)
    with pytest.raises(ModelError, match=pattern) as info:
        ModelBundle.load(folder)
    message = str(info.value)
    assert "\n" not in message.strip() and len(message) < 600, message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_edit_gives_a_working_bundle_or_model_error(tmp_path_factory, model_dir: Path,
                                                             data: st.DataObject) -> None:
    """Replace one field (top level or one level down) with arbitrary JSON: load() either
    works or raises ModelError; nothing else escapes."""
    meta = json.loads((model_dir / METADATA_FILE).read_text())
    key = data.draw(st.sampled_from(sorted(meta)))
    if isinstance(meta[key], dict) and meta[key] and data.draw(st.booleans()):
        sub = data.draw(st.sampled_from(sorted(meta[key])))
        meta[key][sub] = data.draw(JSON_VALUES)
    else:
        meta[key] = data.draw(JSON_VALUES)
    folder = make_bundle(tmp_path_factory.mktemp("fuzzmeta"), model_dir, raw=json.dumps(meta))
    try:
        bundle = ModelBundle.load(folder)
    except ModelError as exc:
        assert str(exc).strip()
        return
    assert bundle.input_size >= 8
    # A bundle that loads must also classify: a bad value may not surface per image later.
    image = tmp_path_factory.mktemp("img") / "x.png"
    Image.fromarray(synthetic_xray(1)).save(image)
    result = classify_file(image, bundle)
    assert result.status != STATUS_ERROR, result.message


# -- issue 16: every probe of a hand-edited model folder ---------------------------------------

def _full_copy(tmp: Path, src: Path) -> Path:
    folder = tmp / "model"
    shutil.copytree(src, folder)
    return folder


def _set(*path_and_value: object) -> Callable[[dict], None]:
    *keys, value = path_and_value

    def apply(meta: dict) -> None:
        node = meta
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return apply


def _labels(labels: list[str], positive: str) -> Callable[[dict], None]:
    def apply(meta: dict) -> None:
        meta["labels"], meta["positive_label"] = labels, positive
    return apply


def _drop_scope_key(key: str) -> Callable[[dict], None]:
    def apply(meta: dict) -> None:
        meta["scope"].pop(key)
    return apply


def _drop_pixel_key(key: str) -> Callable[[dict], None]:
    def apply(meta: dict) -> None:
        meta["scope"]["pixels"].pop(key)
    return apply


def _huge_input_tensor(folder: Path, meta: dict) -> None:
    """A corrupted shape: the input [1, 224, 224, 1] becomes [1, 224, 224, 40000] (about 8 GB
    of tensors), with metadata's sha256 updated."""
    model = folder / meta["file"]
    data = bytearray(model.read_bytes())
    s = meta["input"]["shape"]
    pattern = struct.pack("<4i", *s)
    offset = data.rfind(pattern)
    assert offset >= 0, "input shape not found in the flatbuffer"
    data[offset:offset + 16] = struct.pack("<4i", s[0], s[1], s[2], 40000)
    model.write_bytes(bytes(data))
    meta["sha256"] = sha256_bytes(bytes(data))


def _temperature(value: object) -> Callable[..., None]:
    """Temperature calibration with this temperature (the shipped model may be logistic)."""
    return _set("calibration", {"method": "temperature", "temperature": value})


#: (probe, edit of metadata.json, None = loads as an unverified model | pattern of the refusal)
PROBES: list[tuple[str, Callable[..., None], str | None]] = [
    ("labels swapped", _labels(["PNEUMONIA", "NORMAL"], "PNEUMONIA"),
     r"positive_label 'PNEUMONIA' must be the second label"),
    ("labels swapped with positive_label", _labels(["PNEUMONIA", "NORMAL"], "NORMAL"), None),
    ("labels respelled with positive_label", _labels(["normal", "pneumonia"], "pneumonia"), None),
    ("three labels", _labels(["NORMAL", "VIRAL", "BACTERIAL"], "BACTERIAL"), r"exactly two"),
    ("two equal labels", _labels(["X", "X"], "X"), r"exactly two distinct"),
    ("threshold 0.99", _set("threshold", "value", 0.99), None),
    ("threshold NaN", _set("threshold", "value", float("nan")), r"threshold"),
    ("threshold 1", _set("threshold", "value", 1.0), r"threshold"),
    ("temperature 100", _temperature(100), r"temperature must be .* \[0.05, 10\]"),
    ("temperature NaN", _temperature(float("nan")), r"temperature"),
    ("temperature 0.02", _temperature(0.02), r"temperature"),
    ("temperature 2.5", _temperature(2.5), None),
    ("temperature -1", _temperature(-1), r"temperature"),
    ("temperature text", _temperature("1"), r"temperature"),
    ("calibration platt", _set("calibration", "method", "platt"), r"calibration.method 'platt'"),
    ("logistic, sane", _set("calibration", {"method": "logistic", "scale": 1.2, "offset": -0.3}),
     None),
    ("logistic scale 100", _set("calibration", {"method": "logistic", "scale": 100, "offset": 0}),
     r"calibration.scale must be in \[0.1, 20\]"),
    ("logistic offset 50", _set("calibration", {"method": "logistic", "scale": 1, "offset": 50}),
     r"calibration.offset"),
    ("logistic without offset", _set("calibration", {"method": "logistic", "scale": 1}),
     r"lacks its parameters"),
    ("calibration method missing", _set("calibration", {"temperature": 1.0}),
     r"calibration.method None"),
    ("logit reads the cam", _set("outputs", "logit", "name", "cam"), r"different model outputs"),
    ("cam reads the embedding", _set("outputs", "cam", "name", "embedding"),
     r"different model outputs"),
    ("cam and embedding swapped", lambda m: m["outputs"].update(
        cam={"name": "embedding", "shape": [1, 192]},
        embedding={"name": "cam", "shape": [1, 14, 14]}), r"outputs.cam .* must be a 2-D map"),
    ("cam missing", lambda m: m["outputs"].pop("cam"), r"outputs.cam must name"),
    ("declared shape wrong", _set("outputs", "cam", "shape", [1, 7, 7]), r"does not match"),
    ("scope empty", _set("scope", {}), r"scope statistics .* missing or not finite"),
    ("max_distance NaN", _set("scope", "max_distance", float("nan")), r"max_distance"),
    ("max_distance missing", _drop_scope_key("max_distance"), r"max_distance"),
    ("max_distance 0", _set("scope", "max_distance", 0), r"max_distance"),
    ("embedding_mean short", _set("scope", "embedding_mean", [0.1, 0.2]), r"embedding_mean"),
    ("embedding_std has inf", lambda m: m["scope"]["embedding_std"].__setitem__(
        3, float("inf")), r"embedding_std"),
    ("pixels missing", _drop_scope_key("pixels"), r"pixels"),
    ("pixel ranges missing", _drop_pixel_key("low"), r"pixels.low"),
    ("layout limit missing", _drop_pixel_key("max_layout_residual"), r"max_layout_residual"),
    ("pixel range NaN", lambda m: m["scope"]["pixels"]["high"].__setitem__("mean", float("nan")),
     r"low/high\[mean\]"),
    # only the acquisition-dependent ranges (std, edge_abs, fine_abs) may be left out, and
    # with the feature-pattern check the display and processing ones
    ("a checked range missing", lambda m: [m["scope"]["pixels"][k].pop("symmetry")
                                           for k in ("low", "high")], r"low/high\[symmetry\]"),
    ("a lower-only limit missing", lambda m: m["scope"]["pixels"]["low"].pop("edge"),
     r"low/high\[edge\]"),
    ("feature pattern removed", _drop_scope_key("embedding_pattern"), r"low/high\[mean\]"),
    ("feature pattern limit NaN", _set("scope", "embedding_pattern", "max_residual",
                                       float("nan")), r"embedding_pattern.max_residual"),
    ("min_std missing", _drop_scope_key("min_std"), r"min_std"),
    ("huge tensor", _huge_input_tensor, r"tensors need more than 256 MB.*refusing to allocate"),
]


@pytest.mark.parametrize("probe,edit,refusal", PROBES, ids=[p[0] for p in PROBES])
def test_issue16_probe(tmp_path: Path, model_dir: Path, probe: str, edit: Callable[..., None],
                       refusal: str | None) -> None:
    """Each edit of a copy of the model folder is refused with a clear ModelError, or the
    folder loads only as an unverified model (decisions then carry that mark everywhere)."""
    import resource

    folder = _full_copy(tmp_path, model_dir)
    # the guard's statistics inline, as earlier folders held them (a folder of that kind
    # must be checked as strictly), so that an edit can reach them
    meta = model_folder.read_json(folder)
    if edit is _huge_input_tensor:
        edit(folder, meta)
    else:
        edit(meta)
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if refusal is not None:
        with pytest.raises(ModelError, match=refusal) as info:
            ModelBundle.load(folder)
        message = str(info.value)
        assert "\n" not in message.strip() and len(message) < 600, message
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
        assert grown_kb < 512 * 1024, f"refusing {probe} grew the process by {grown_kb} KB"
        return
    bundle = ModelBundle.load(folder)
    assert not bundle.verified and "metadata.json" in bundle.verification.reason


def test_flagged_follows_the_positive_label_not_a_spelling(tmp_path: Path,
                                                           model_dir: Path) -> None:
    folder = _full_copy(tmp_path, model_dir)
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta["labels"], meta["positive_label"] = ["normal", "pneumonia"], "pneumonia"
    (folder / METADATA_FILE).write_text(json.dumps(meta))
    bundle = ModelBundle.load(folder)
    image = tmp_path / "x.png"
    Image.fromarray(synthetic_xray(1)).save(image)
    positive = classify_file(image, bundle, 1e-9)
    negative = classify_file(image, bundle, 1 - 1e-9)
    assert positive.status == negative.status == "ok"
    assert positive.prediction == "pneumonia" and positive.flagged
    assert negative.prediction == "normal" and not negative.flagged


@pytest.mark.parametrize("text,pattern", [
    ("[" * 200_000 + "]" * 200_000, r"nested 200000 levels deep"),
    ('{"a":' * 30 + "1" + "}" * 30, r"nested 30 levels deep"),
    ('{"name": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', r"schema_version"),  # brackets in a string
])
def test_deeply_nested_metadata_is_refused_clearly(tmp_path: Path, model_dir: Path, text: str,
                                                   pattern: str) -> None:
    folder = make_bundle(tmp_path, model_dir, raw=text)
    with pytest.raises(ModelError, match=pattern):
        ModelBundle.load(folder)


def test_oversized_metadata_and_model_files_are_refused_unread(
        tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pneumonia_core import metadata_json, model

    folder = make_bundle(tmp_path, model_dir)
    monkeypatch.setattr(model, "MAX_MODEL_FILE_BYTES", 1000)
    with pytest.raises(ModelError, match=r"Model file model.tflite is \d+ MB, more than"):
        ModelBundle.load(folder)
    monkeypatch.setattr(metadata_json, "MAX_METADATA_BYTES", 1000)
    with pytest.raises(ModelError, match=r"metadata.json is 0 MB, larger than any"):
        ModelBundle.load(folder)


def test_tensor_memory_bound_counts_every_tensor() -> None:
    import numpy as np

    from pneumonia_core.runtime import check_tensor_memory

    small = [{"name": "a", "shape": np.array([1, 224, 224, 1]), "dtype": np.float32}]
    assert check_tensor_memory(small) == 224 * 224 * 4
    many = small * 2000  # 400 MB together, each tensor small
    with pytest.raises(ValueError, match=r"more than 256 MB"):
        check_tensor_memory(many)
    with pytest.raises(ValueError, match=r"impossible shape"):
        check_tensor_memory([{"name": "b", "shape": np.array([1, -5]), "dtype": np.int8}])
