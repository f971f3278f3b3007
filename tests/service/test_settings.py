"""Settings fail closed (B-33 start-up half, B-34 config is data)."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from pydantic import ValidationError

from service.settings import Settings, is_loopback
from service.token_policy import MIN_TOKEN_BITS, estimate_bits
from tests.service.conftest import TOKEN
from tests.service.process import REPO

HOSTS = {"loopback": "127.0.0.1", "any": "0.0.0.0"}
TOKENS = {"none": None, "placeholder": "changethis", "real": TOKEN}
#: (bind, token) -> starts?
MATRIX = {
    ("loopback", "none"): True, ("loopback", "placeholder"): False, ("loopback", "real"): True,
    ("any", "none"): False, ("any", "placeholder"): False, ("any", "real"): True,
}


@pytest.mark.parametrize(("bind", "token"), sorted(MATRIX))
def test_auth_matrix(bind: str, token: str) -> None:
    kwargs = {"http_host": HOSTS[bind], "api_token": TOKENS[token]}
    if MATRIX[bind, token]:
        s = Settings(**kwargs)
        assert s.auth_required is (token == "real")
    else:
        with pytest.raises(ValidationError):
            Settings(**kwargs)


@pytest.mark.parametrize("token", ["", "changeme", "short-secret", "  CHANGETHIS  "])
def test_placeholder_and_short_tokens_refused(token: str) -> None:
    with pytest.raises(ValidationError):
        Settings(api_token=token)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDCAM_HTTP_PORT", "9999")
    monkeypatch.setenv("MEDCAM_DICOM_AET", "MYAET")
    monkeypatch.setenv("MEDCAM_ALLOWED_AETS", "MODALITY1, ORTHANC")
    monkeypatch.setenv("MEDCAM_PUSH", "dicomweb")
    monkeypatch.setenv("MEDCAM_PACS_DICOMWEB", "http://127.0.0.1:8042/dicom-web/")
    s = Settings()
    assert (s.http_port, s.dicom_aet) == (9999, "MYAET")
    assert s.allowed_aets == ("MODALITY1", "ORTHANC")
    assert s.pacs_dicomweb == "http://127.0.0.1:8042/dicom-web"
    assert (s.http_host, s.dicom_port) == ("127.0.0.1", 11112)


def test_dicomweb_push_needs_a_url() -> None:
    with pytest.raises(ValidationError):
        Settings(push="dicomweb")


@pytest.mark.parametrize("aet", ["", "A" * 17, "BACK\\SLASH"])
def test_bad_ae_titles(aet: str) -> None:
    with pytest.raises(ValidationError):
        Settings(dicom_aet=aet)


def test_config_is_data(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = "$__import__('os').system('false')"
    monkeypatch.setenv("MEDCAM_MODEL", payload)
    assert Settings().model == payload
    with pytest.raises(ValidationError):
        Settings(worker_pipeline="os:system; rm")


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1")


def test_no_settings_read_at_import() -> None:
    code = "import service.main, service.__main__, service.api.jobs, service.runtime"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "MEDCAM_HTTP_PORT": "not-a-port"})
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(("env", "leak"), [
    ({"MEDCAM_HTTP_HOST": "0.0.0.0"}, None),
    ({"MEDCAM_API_TOKEN": "changethis"}, "changethis"),
])
def test_python_m_service_refuses_to_start(env: dict[str, str], leak: str | None) -> None:
    run = subprocess.run([sys.executable, "-m", "service"], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert run.returncode == 2
    assert "refusing to start" in run.stderr
    if leak:
        assert leak not in run.stderr


# --- issue 12: the DICOM door and the token policy ---------------------------------
@pytest.mark.parametrize("token", [
    "a" * 16, "a" * 40, "abababababababab", "abcabcabcabcabcabcab", "abcdefghijklmnop",
    "0123456789abcdef", "aabbccddeeffgghh", "q8Zq8Zq8Zq8Zq8Zq", "secretsecret1234",
    "1111111111111111111111111111",
])
def test_low_entropy_tokens_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="guessable"):
        Settings(api_token=token)


def test_random_tokens_pass() -> None:
    for _ in range(200):
        Settings(api_token=secrets.token_urlsafe(32))
        Settings(api_token=secrets.token_hex(16))
    assert estimate_bits(TOKEN) >= MIN_TOKEN_BITS


@pytest.mark.parametrize(("host", "aets", "starts"), [
    ("127.0.0.1", "", True),
    ("0.0.0.0", "", False),
    ("0.0.0.0", "MODALITY", False),  # a bare title admits loopback callers only
    ("0.0.0.0", "MODALITY@10.0.0.0/8,PACS@192.168.1.5", True),
    ("192.168.1.2", "PACS@192.168.1.5", True),
])
def test_dicom_door(host: str, aets: str, starts: bool,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDCAM_DICOM_HOST", host)
    monkeypatch.setenv("MEDCAM_ALLOWED_AETS", aets)
    if starts:
        s = Settings()
        assert len(s.allowed_peers) == len([a for a in aets.split(",") if a])
    else:
        with pytest.raises(ValidationError, match="MEDCAM_ALLOWED_AETS"):
            Settings()
    Settings(dicom_host=host, dicom_enabled=False)  # no listener, no door to close


@pytest.mark.parametrize("aets", ["MOD@10.0.0.1/8", "MOD@pacs.local", "MOD@10.0.0.0/33"])
def test_bad_allow_list_entries(aets: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDCAM_ALLOWED_AETS", aets)
    with pytest.raises(ValidationError):
        Settings()


def test_python_m_service_refuses_an_open_dicom_door() -> None:
    run = subprocess.run([sys.executable, "-m", "service"], cwd=REPO, capture_output=True,
                         text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "MEDCAM_DICOM_HOST": "0.0.0.0"})
    assert run.returncode == 2
    assert "MEDCAM_ALLOWED_AETS" in run.stderr
