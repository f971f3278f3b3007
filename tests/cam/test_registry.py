"""The method table is built from the classes: one place holds each method's metadata."""

from __future__ import annotations

import pytest

from medcam import cam
from medcam.cam.gradcam import GradCam
from medcam.cam.registry import METHODS, _table
from medcam.cli import main
from medcam.errors import CamError


def test_every_method_class_carries_its_metadata():
    assert len(METHODS) == len({c.name for c in METHODS}) >= 13
    for cls in METHODS:
        assert cls.name and cls.paper and cls.summary, cls.__name__
        assert cls.cost_class in ("gradient", "perturbation", "gradient-free")
        info = cam.describe(cls.name)
        assert (info.name, info.cost_class, info.paper, info.summary, info.needs_grad) == (
            cls.name, cls.cost_class, cls.paper, cls.summary, cls.needs_grad)
    assert cam.available() == [c.name for c in METHODS]


def test_medcam_methods_lists_the_classes(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(METHODS)
    for line, cls in zip(lines, METHODS, strict=True):
        assert line.split()[0] == cls.name and line.endswith(cls.paper)


def test_a_class_without_metadata_or_with_a_taken_name_is_refused():
    class Nameless(GradCam):
        name = "nameless"
        paper = ""

    class Twin(GradCam):
        pass

    with pytest.raises(CamError, match="lacks its name"):
        _table((GradCam, Nameless))
    with pytest.raises(CamError, match="two CAM methods"):
        _table((GradCam, Twin))
