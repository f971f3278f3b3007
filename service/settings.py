"""Service settings, read from ``MEDCAM_*`` environment variables; they fail closed.

Nothing is read at import time: build a :class:`Settings` (``Settings()`` reads the
environment) and hand it to :func:`service.main.create_app`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from medcam.errors import ExportError, MedcamError, RoutesError
from medcam.export.result_set import parse_outputs
from medcam.model.cache import DEFAULT_BUDGET_MB
from medcam.pacs.aet import AllowedPeer, validate_ae_title
from medcam.routing import check_models, load_routes
from medcam.routing import rules as routing_rules
from service.token_policy import MIN_TOKEN_BITS, estimate_bits

__all__ = ["PLACEHOLDER_TOKENS", "Settings", "is_loopback", "routes_digest"]


def routes_digest(text: str | None) -> str | None:
    """sha256 of a routes file's UTF-8 bytes (part of the job deduplication key)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()

#: Token values that are never accepted (copied from examples, or empty).
PLACEHOLDER_TOKENS = frozenset({
    "", "changethis", "changeme", "change-me", "secret", "token", "password", "admin",
    "medcam", "test", "xxx", "todo",
})
#: Shortest accepted API token.
MIN_TOKEN_LENGTH = 16
_PLUGGABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only the local machine (``localhost`` or a loopback IP)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Every setting of the service (environment variable = ``MEDCAM_`` + upper-case name).

    Time values are seconds. Push retries wait ``push_backoff_s * 2**n``, capped at
    ``push_backoff_max_s``, for at most ``push_max_attempts`` sends per instance.
    """

    model_config = SettingsConfigDict(env_prefix="MEDCAM_", extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    dicom_host: str = "127.0.0.1"
    dicom_aet: str = "MEDCAM"
    dicom_port: int = Field(default=11112, ge=0, le=65535)
    dicom_enabled: bool = True
    data_dir: Path = Path("medcam-data")
    api_token: SecretStr | None = None
    pacs_aet: str = "ORTHANC"
    pacs_host: str = "127.0.0.1"
    pacs_port: int = Field(default=4242, ge=1, le=65535)
    pacs_dicomweb: str | None = None
    push: Literal["dimse", "dicomweb"] = "dimse"
    model: str = "demo-ct3d"
    method: str = "gradcam"
    #: the result objects written and pushed per series (``sc,pm,seg,sr,ko`` or ``all``)
    outputs: str = "all"
    #: a routes file (or ``default``): each series goes to the model its rule names
    routes: str | None = None
    #: memory budget (MB) of the inference child's model cache: parameters plus
    #: buffers of the models kept between jobs, least recently used evicted first
    model_cache_mb: float = Field(default=DEFAULT_BUDGET_MB, gt=0)
    device: str = "cpu"
    allowed_aets: Annotated[tuple[str, ...], NoDecode] = ()

    # intake limits
    max_upload_bytes: int = Field(default=2 << 30, gt=0)
    max_instances: int = Field(default=10_000, gt=0)
    max_instance_bytes: int = Field(default=512 << 20, gt=0)
    series_quiet_s: float = Field(default=10.0, gt=0)
    max_associations: int = Field(default=10, ge=1)
    max_pdu_bytes: int = Field(default=1 << 20, ge=4096)

    # jobs
    worker_pipeline: str = "medcam.run:explain_folder"
    job_max_attempts: int = Field(default=3, ge=1)
    job_lease_s: float = Field(default=60.0, gt=0)
    job_timeout_s: float = Field(default=3600.0, gt=0)
    poll_interval_s: float = Field(default=0.5, gt=0)

    # retention of job folders (inputs and outputs), see service/jobs/retention.py
    #: hours a succeeded job (every object stored in the PACS) keeps its folder; 0: none
    retention_hours: float = Field(default=0.0, ge=0)
    #: hours a failed job keeps its folder (for ``POST /v1/jobs/{id}/push``)
    failed_retention_hours: float = Field(default=168.0, ge=0)
    retention_sweep_s: float = Field(default=60.0, gt=0)
    #: set by the Dockerfile: loopback PACS addresses are then refused (the container
    #: itself is not the PACS)
    in_container: bool = False

    # push and PACS timeouts (never infinite)
    push_max_attempts: int = Field(default=10, ge=1)
    push_backoff_s: float = Field(default=30.0, gt=0)
    push_backoff_max_s: float = Field(default=600.0, gt=0)
    #: most instances of one job per association and per round-robin pass
    push_batch_size: int = Field(default=20, ge=1)
    connection_timeout_s: float = Field(default=5.0, gt=0)
    acse_timeout_s: float = Field(default=10.0, gt=0)
    dimse_timeout_s: float = Field(default=30.0, gt=0)
    network_timeout_s: float = Field(default=60.0, gt=0)
    http_timeout_s: float = Field(default=30.0, gt=0)

    # --- intake door (issue 12): model names, DIMSE instance caps ----------------
    #: model names (or spec paths) ``POST /v1/jobs`` may select besides the built-in
    #: names and ``MEDCAM_MODEL``; anything else is refused without touching the disk
    api_models: Annotated[tuple[str, ...], NoDecode] = ()
    #: most instances one pending DIMSE series may hold (more are answered 0xA700)
    max_series_instances: int = Field(default=10_000, gt=0)
    #: most image instances one association may store (more are answered 0xA700)
    max_association_instances: int = Field(default=50_000, gt=0)

    @field_validator("allowed_aets", "api_models", mode="before")
    @classmethod
    def _split_aets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("dicom_aet", "pacs_aet")
    @classmethod
    def _check_aet(cls, value: str) -> str:
        return validate_ae_title(value)

    @field_validator("allowed_aets")
    @classmethod
    def _check_aets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            AllowedPeer.parse(entry)
        return value

    @field_validator("outputs")
    @classmethod
    def _check_outputs(cls, value: str) -> str:
        try:
            return ",".join(parse_outputs(value))
        except ExportError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            check_models(load_routes(None if value == "default" else value), methods=False)
        except MedcamError as exc:
            raise ValueError(str(exc)) from None
        return value if value == "default" else str(Path(value).resolve())

    def read_routes(self) -> str | None:
        """The text of the routes file in force, read now (``None``: no routing).

        The service reads it once at start: the digest of this text goes into the
        job deduplication key and this text (not the path) to the inference child,
        so an edit of the file while the service runs changes neither.

        Raises:
            RoutesError: the file cannot be read any more.

        """
        if self.routes is None:
            return None
        path = None if self.routes == "default" else Path(self.routes)
        try:
            data = (path or Path(routing_rules.__file__).with_name("default.toml")).read_bytes()
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RoutesError(f"cannot read the routes file ({type(exc).__name__})") from None

    @property
    def routes_digest(self) -> str | None:
        """sha256 of the routes file as it is now (see :func:`routes_digest`)."""
        return routes_digest(self.read_routes())

    @field_validator("worker_pipeline")
    @classmethod
    def _check_pipeline(cls, value: str) -> str:
        if not _PLUGGABLE.match(value):
            raise ValueError("worker_pipeline must look like 'package.module:function'")
        return value

    @field_validator("pacs_dicomweb")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("pacs_dicomweb must be an http(s) URL")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _fail_closed(self) -> Self:
        token = self.api_token.get_secret_value() if self.api_token is not None else None
        if token is not None and (token.strip().lower() in PLACEHOLDER_TOKENS
                                  or len(token) < MIN_TOKEN_LENGTH):
            raise ValueError(f"MEDCAM_API_TOKEN is a placeholder or shorter than "
                             f"{MIN_TOKEN_LENGTH} characters; set a real secret")
        if token is not None and estimate_bits(token) < MIN_TOKEN_BITS:
            raise ValueError(f"MEDCAM_API_TOKEN is guessable (estimated under "
                             f"{MIN_TOKEN_BITS:.0f} bits: repeats, runs or a small "
                             "alphabet); use e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'")
        self._check_dicom_door()
        if token is None and not is_loopback(self.http_host):
            raise ValueError("refusing to listen on a non-loopback address without "
                             "MEDCAM_API_TOKEN")
        if self.push == "dicomweb" and not self.pacs_dicomweb:
            raise ValueError("MEDCAM_PUSH=dicomweb needs MEDCAM_PACS_DICOMWEB")
        if self.in_container and self._pacs_is_loopback():
            raise ValueError("in a container the PACS cannot be on loopback (that is the "
                             "container itself): set MEDCAM_PACS_HOST (dimse) or "
                             "MEDCAM_PACS_DICOMWEB (dicomweb) to the PACS's address")
        if self.push_backoff_max_s < self.push_backoff_s:
            raise ValueError("push_backoff_max_s must be >= push_backoff_s")
        return self

    def _check_dicom_door(self) -> None:
        if not self.dicom_enabled or is_loopback(self.dicom_host):
            return
        if not any(not p.loopback_only for p in self.allowed_peers):
            raise ValueError("refusing to bind the DICOM listener to a non-loopback address "
                             "without MEDCAM_ALLOWED_AETS entries of the form "
                             "TITLE@IP or TITLE@NETWORK/PREFIX")

    @property
    def allowed_peers(self) -> tuple[AllowedPeer, ...]:
        """``allowed_aets`` parsed: (AE title, source networks) pairs."""
        return tuple(AllowedPeer.parse(e) for e in self.allowed_aets)

    def _pacs_is_loopback(self) -> bool:
        if self.push == "dimse":
            return is_loopback(self.pacs_host)
        host = urlsplit(self.pacs_dicomweb or "").hostname or ""
        return is_loopback(host)

    @property
    def auth_required(self) -> bool:
        """Whether HTTP routes (all but ``/healthz``) demand the bearer token."""
        return self.api_token is not None
