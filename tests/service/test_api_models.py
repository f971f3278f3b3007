"""POST /v1/jobs selects models by name only (issue 12, finding 6: no file probing)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medcam.model.spec import BUILTIN_DIR
from service.main import create_app
from service.settings import Settings
from tests.service.conftest import AUTH

STUDY = "1.2.3"


@pytest.fixture
def client(make_settings: Callable[..., Settings], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # a working directory holding a README and a *valid* spec file: neither may be
    # selectable, and neither may answer differently from a name that names nothing
    (tmp_path / "README.md").write_text("# not a model\n")
    shutil.copy(BUILTIN_DIR / "demo-ct3d.json", tmp_path / "probe.json")
    monkeypatch.chdir(tmp_path)
    app = create_app(make_settings(pacs_dicomweb="http://127.0.0.1:1/dicom-web",
                                   api_models=("site-chest",)), start_background=False)
    with TestClient(app) as c:
        yield c


def _post(c: TestClient, model: str) -> tuple[int, object]:
    r = c.post("/v1/jobs", json={"study_instance_uid": STUDY, "model": model}, headers=AUTH)
    return r.status_code, r.json()


def test_file_names_get_the_unknown_name_answer(client: TestClient) -> None:
    answers = {name: _post(client, name) for name in
               ("README.md", "probe.json", "no-such-file.json", "nonexistent-model")}
    assert {code for code, _ in answers.values()} == {422}
    assert len({repr(body) for _, body in answers.values()}) == 1, answers


@pytest.mark.parametrize("model", ["demo-ct3d", "demo-dx2d", "site-chest"])
def test_built_in_and_listed_names_are_queued(client: TestClient, model: str) -> None:
    code, body = _post(client, model)
    assert code == 202
    assert isinstance(body, dict) and body["model"] == model


def test_api_models_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDCAM_API_MODELS", "site-chest, site-ct")
    assert Settings().api_models == ("site-chest", "site-ct")
