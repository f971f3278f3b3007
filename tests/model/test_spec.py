"""Model specs are data, validated once built; weights are hash-checked."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from medcam.errors import ModelError, WeightsMismatchError
from medcam.model.load import BUILTIN_DIR, builtin_names, load_model, resolve_spec, sha256_file
from medcam.model.spec import IntensityWindow, ModelSpec


def spec_dict(tmp_path):
    data = json.loads((BUILTIN_DIR / "demo-ct3d.json").read_text())
    weights = resolve_spec("demo-ct3d").weights
    shutil.copy(weights, tmp_path / "w.pt")
    data["weights"] = "w.pt"
    return data


def test_builtins_load_and_are_small():
    assert set(builtin_names()) >= {"demo-ct3d", "demo-dx2d"}
    for name in ("demo-ct3d", "demo-dx2d"):
        loaded = load_model(name)
        assert loaded.spec.weights.stat().st_size < 10 * 1024 * 1024
        assert not loaded.module.training
        assert all(not p.requires_grad for p in loaded.module.parameters())


def test_spec_file_round_trip(tmp_path):
    data = spec_dict(tmp_path)
    (tmp_path / "m.json").write_text(json.dumps(data))
    spec = ModelSpec.from_file(tmp_path / "m.json")
    assert spec.weights == tmp_path / "w.pt"
    assert load_model(tmp_path / "m.json").spec.name == "demo-ct3d"


def test_toml_spec(tmp_path):
    data = spec_dict(tmp_path)
    lines = [f'{k} = {json.dumps(v)}' for k, v in data.items()
             if not isinstance(v, dict) and v is not None]
    lines += ["[intensity]", 'mode = "window"', "low = -1000.0", "high = 400.0"]
    lines += ["[network_args]"] + [f"{k} = {json.dumps(v)}"
                                   for k, v in data["network_args"].items()]
    (tmp_path / "m.toml").write_text("\n".join(lines) + "\n")
    assert load_model(tmp_path / "m.toml").spec.input_size == tuple(data["input_size"])


def test_weights_mismatch(tmp_path):
    data = spec_dict(tmp_path)
    with (tmp_path / "w.pt").open("ab") as fh:
        fh.write(b"\0")
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(WeightsMismatchError):
        load_model(tmp_path / "m.json")


def test_config_is_data(tmp_path):
    data = spec_dict(tmp_path)
    data["network"] = "__import__('os').system('true')"
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(ModelError):
        load_model(tmp_path / "m.json")
    data = spec_dict(tmp_path)
    data["description"] = "$__import__('os')"
    (tmp_path / "m.json").write_text(json.dumps(data))
    assert load_model(tmp_path / "m.json").spec.description == "$__import__('os')"


@pytest.mark.parametrize(("key", "value"), [
    ("spatial_dims", 4), ("input_size", [64, 64]), ("input_spacing", [5, 0, 5]),
    ("class_names", ["only"]), ("sha256", "abc"), ("unknown_key", 1)])
def test_invalid_specs_raise_model_error(tmp_path, key, value):
    data = spec_dict(tmp_path)
    data[key] = value
    with pytest.raises(ModelError):
        ModelSpec.from_mapping(data, base_dir=tmp_path)


def test_intensity_window_validation():
    with pytest.raises(ModelError):
        IntensityWindow("window", 10, 5)
    with pytest.raises(ModelError):
        IntensityWindow("percentile", 0, 150)


def test_torchscript_with_embedded_spec(tmp_path):
    loaded = load_model("demo-ct3d")
    spec = {k: v for k, v in loaded.spec.to_dict().items()
            if k not in ("weights", "sha256", "network", "network_args", "format")}
    scripted = torch.jit.trace(loaded.module, torch.zeros(1, 1, *loaded.spec.input_size))
    path = tmp_path / "model.ts"
    torch.jit.save(scripted, str(path), _extra_files={"medcam_spec.json": json.dumps(spec)})
    ts = load_model(path)
    assert ts.spec.format == "torchscript"
    assert ts.spec.sha256 == sha256_file(path)
    x = torch.rand(1, 1, *loaded.spec.input_size)
    assert torch.allclose(ts.module(x), loaded.module(x), atol=1e-5)


def test_unknown_model_name():
    with pytest.raises(ModelError, match="unknown model"):
        resolve_spec("nope")
