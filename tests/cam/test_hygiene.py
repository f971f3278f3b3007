"""Model state hygiene: hooks, .grad, requires_grad, training flags, grad mode; targets."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from medcam import cam
from medcam.errors import CamError
from medcam.synthetic.planted import Exploding, MlpHead, tiny_cnn

GRADIENT_LIKE = [m for m in cam.available() if cam.create(m, tiny_cnn(2)).needs_grad]


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())


def _prepare(model: nn.Module) -> dict[str, object]:
    """Mixed, unusual state: train mode with one module in eval, a frozen layer, grads."""
    model.train()
    model[1].eval()
    model[0].weight.requires_grad_(False)
    model[3].weight.grad = torch.full_like(model[3].weight, 3.0)
    model[10].bias.grad = torch.full_like(model[10].bias, -1.0)
    return {"training": [m.training for m in model.modules()],
            "requires": [p.requires_grad for p in model.parameters()],
            "grads": [p.grad for p in model.parameters()],
            "values": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            "hooks": _hooks(model)}


def _check(model: nn.Module, state: dict[str, object]) -> None:
    assert [m.training for m in model.modules()] == state["training"]
    assert [p.requires_grad for p in model.parameters()] == state["requires"]
    for p, g, v in zip(model.parameters(), state["grads"], state["values"], strict=True):
        assert p.grad is g
        if v is not None:
            assert torch.equal(p.grad, v)
    assert _hooks(model) == state["hooks"]


def _tensor_count() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, nn.Parameter))


def test_hundred_calls_leave_the_model_untouched() -> None:
    model = tiny_cnn(2)
    state = _prepare(model)
    x = torch.randn(2, 1, 32, 32)
    engine = cam.create("gradcam", model)
    engine(x)
    before = _tensor_count()
    for _ in range(100):
        maps = engine(x, target=[0, 1])
    assert maps.shape == (2, 32, 32)
    _check(model, state)
    assert _tensor_count() - before < 20
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("method", cam.available())
def test_every_method_restores_state(method: str) -> None:
    model = tiny_cnn(3)
    state = _prepare(model)
    cam.create(method, model, target_layer="7").compute(torch.randn(1, 1, 16, 16, 16), 1)
    _check(model, state)


@pytest.mark.parametrize("method", ["gradcam", "fgcam", "recipro", "ablationcam"])
def test_model_raising_mid_forward(method: str) -> None:
    model = Exploding(2)
    model.train()
    model.body[3].weight.grad = torch.ones_like(model.body[3].weight)
    training = [m.training for m in model.modules()]
    grad = model.body[3].weight.grad
    engine = cam.create(method, model, target_layer="body.7")
    x = torch.randn(1, 1, 32, 32)
    engine(x)  # works unarmed
    model.armed = True
    with pytest.raises(RuntimeError, match="boom"):
        engine(x)
    assert [m.training for m in model.modules()] == training
    assert model.body[3].weight.grad is grad
    assert _hooks(model) == 0
    assert torch.is_grad_enabled()


def test_frozen_parameters_like_load_model() -> None:
    """medcam.model.load sets requires_grad=False everywhere: gradients still flow."""
    model = tiny_cnn(2)
    x = torch.randn(2, 1, 32, 32)
    ref = cam.create("gradcam", model).compute(x, 1).raw
    for p in model.parameters():
        p.requires_grad_(False)
    got = cam.create("gradcam", model).compute(x, 1).raw
    torch.testing.assert_close(got, ref)
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("method", GRADIENT_LIKE)
def test_no_parameter_requires_grad_during_a_call(method: str) -> None:
    """Gradients are taken w.r.t. the target layer only: no parameter is a graph leaf."""
    model = tiny_cnn(2)
    seen: list[bool] = []
    handle = model[10].register_forward_hook(
        lambda *_: seen.append(any(p.requires_grad for p in model.parameters())))
    try:
        cam.create(method, model, target_layer="7").compute(torch.randn(2, 1, 32, 32), 1)
    finally:
        handle.remove()
    assert seen
    assert not any(seen)
    assert all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("method", GRADIENT_LIKE)
def test_inference_mode_is_refused_for_gradient_methods(method: str) -> None:
    engine = cam.create(method, tiny_cnn(2))
    with torch.inference_mode(), pytest.raises(CamError, match="inference_mode"):
        engine(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize("method", ["cam", "recipro", "ablationcam", "eigencam", "scorecam"])
def test_gradient_free_methods_work_in_inference_mode(method: str) -> None:
    model = tiny_cnn(2)
    x = torch.randn(1, 1, 32, 32)
    ref = cam.create(method, model)(x)
    with torch.inference_mode():
        got = cam.create(method, model)(x)
    torch.testing.assert_close(got, ref)


def test_no_grad_context_is_fine_and_kept() -> None:
    model = tiny_cnn(2)
    x = torch.randn(2, 1, 32, 32)
    ref = cam.create("layercam", model)(x)
    with torch.no_grad():
        got = cam.create("layercam", model)(x)
        assert not torch.is_grad_enabled()
    torch.testing.assert_close(got, ref)


def test_targets_int_list_tensor_callable() -> None:
    model = tiny_cnn(2, classes=3)
    x = torch.randn(2, 1, 32, 32)
    engine = cam.create("gradcam", model, relu=False)
    by_int = engine.compute(x, 2)
    by_list = engine.compute(x, [2, 2])
    by_tensor = engine.compute(x, torch.tensor([2, 2]))
    by_fn = engine.compute(x, lambda out: out[:, 2])
    assert by_int.targets == by_list.targets == by_tensor.targets == (2, 2)
    assert by_fn.targets == (None, None)
    for other in (by_list, by_tensor, by_fn):
        torch.testing.assert_close(other.raw, by_int.raw)
    mixed = engine.compute(x, [0, 2])
    torch.testing.assert_close(mixed.raw[1], by_int.raw[1])
    assert not torch.allclose(mixed.raw[0], by_int.raw[0])
    predicted = engine.compute(x)
    assert predicted.targets == tuple(int(c) for c in predicted.logits.argmax(1))


def test_callable_target_on_a_segmentation_style_output() -> None:
    """A score from a spatial output: summed logit of class 1 inside a mask."""
    model = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv3d(4, 2, 3, padding=1)).eval()
    x = torch.randn(2, 1, 8, 8, 8)
    mask = torch.zeros(8, 8, 8)
    mask[2:5, 2:5, 2:5] = 1
    maps = cam.create("gradcam", model, target_layer="1")(x, lambda out: (out[:, 1] * mask)
                                                           .flatten(1).sum(1))
    assert maps.shape == (2, 8, 8, 8)
    assert torch.isfinite(maps).all()
    with pytest.raises(CamError, match="callable"):
        cam.create("gradcam", model, target_layer="1")(x)


@pytest.mark.parametrize(("target", "match"), [
    (5, "outside"), ([0], "2 samples"), ("a", "unsupported"),
    (lambda out: out, "shape")])
def test_bad_targets(target: object, match: str) -> None:
    engine = cam.create("gradcam", tiny_cnn(2))
    with pytest.raises(CamError, match=match):
        engine(torch.randn(2, 1, 32, 32), target)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    engine = cam.create("gradcam", tiny_cnn(2))
    for bad in (torch.randn(32, 32), torch.zeros(1, 1, 32, 32, dtype=torch.long)):
        with pytest.raises(CamError, match="floating-point"):
            engine(bad)


def test_general_tail_path_keeps_state() -> None:
    model = MlpHead(2)
    model.train()
    training = [m.training for m in model.modules()]
    cam.create("recipro", model, target_layer="features.3", batch_size=2)(
        torch.randn(1, 1, 16, 16))
    assert [m.training for m in model.modules()] == training
    assert _hooks(model) == 0
