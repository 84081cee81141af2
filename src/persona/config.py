"""Settings: one object, read from the environment (``PERSONA_*``) and the workspace config file.

A workspace is a folder holding ``config.toml``, the embedded SQLite database ``persona.db``, the
secret key file ``secret.key`` (mode 0600), quarantine files, model artifacts and ``report.html``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from persona.errors import ConfigError

DEFAULT_WORKSPACE = Path(".persona")
CONFIG_FILE = "config.toml"
KEY_FILE = "secret.key"
DB_FILE = "persona.db"


class Settings(BaseSettings):
    """Everything configurable. Environment variables win over the workspace's ``config.toml``."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_", extra="ignore")

    workspace: Path = Field(default=DEFAULT_WORKSPACE, description="workspace folder")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in the workspace")
    secret_key: str | None = Field(default=None, description="base64 key for PII encryption; default: key file")
    progress: bool = Field(default=True, description="show progress bars")
    seed: int = Field(default=42, description="default random seed")
    chunk_size: int = Field(default=100_000, ge=1, description="rows per ingestion chunk")
    global_holdout: float = Field(default=0.05, ge=0, lt=1, description="share of customers no campaign contacts")
    backoff_seconds: float = Field(default=30.0, ge=0, description="first retry delay of a failed send (doubles)")
    engine: str = Field(default="local", description="where batch work runs: local (pandas/NumPy) or spark")
    spark_master: str = Field(default="local[*]", description="Spark master URL when engine = spark")
    models_keep: int | None = Field(default=None, ge=1, description="after each registration of a model, prune its "
                                    "artifacts beyond this many newest versions (see `persona models prune`); None: keep all")

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, v: Any) -> Any:
        from persona.engines import check_engine

        return check_engine(v) if isinstance(v, str) else v

    @field_validator("workspace", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    # --- derived paths -------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.workspace / CONFIG_FILE

    @property
    def key_path(self) -> Path:
        return self.workspace / KEY_FILE

    @property
    def quarantine_dir(self) -> Path:
        return self.workspace / "quarantine"

    @property
    def models_dir(self) -> Path:
        return self.workspace / "models"

    @property
    def profile_builder_path(self) -> Path:
        """The fitted profile builder (written by ``persona profiles build``, read by the service's live loop)."""
        return self.models_dir / "profile_builder.joblib"

    @property
    def report_path(self) -> Path:
        return self.workspace / "report.html"

    @property
    def url(self) -> str:
        """The database URL in force (the SQLite file in the workspace unless configured)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.workspace / DB_FILE).resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def load_settings(workspace: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings for a workspace: explicit arguments > environment > config file > defaults.

    Args:
        workspace: folder of the workspace; ``None`` uses ``PERSONA_WORKSPACE`` or ``./.persona``.
        overrides: any other field of :class:`Settings`.
    """
    ws = Path(workspace).expanduser() if workspace else Path(os.environ.get("PERSONA_WORKSPACE", DEFAULT_WORKSPACE))
    file_values: dict[str, Any] = {}
    cfg = ws / CONFIG_FILE
    if cfg.is_file():
        try:
            file_values = tomllib.loads(cfg.read_text(encoding="utf-8")).get("persona", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot parse {cfg}: {exc}", hint="fix the TOML syntax or delete the file and run `persona init`") from exc
    env_values = Settings().model_dump(exclude_unset=True)
    values = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    values["workspace"] = ws
    try:
        return Settings(**values)
    except Exception as exc:  # pydantic ValidationError: show it as a config problem
        raise ConfigError(f"invalid settings: {exc}", hint=f"check PERSONA_* variables and {cfg}") from exc


def write_config(settings: Settings) -> Path:
    """Write the non-secret settings to ``config.toml`` in the workspace."""
    settings.workspace.mkdir(parents=True, exist_ok=True)
    lines = ["[persona]"]
    if settings.database_url:
        lines.append(f'database_url = "{settings.database_url}"')
    lines.append(f"seed = {settings.seed}")
    lines.append(f"chunk_size = {settings.chunk_size}")
    if settings.engine != "local":
        lines.append(f'engine = "{settings.engine}"')
        lines.append(f'spark_master = "{settings.spark_master}"')
    settings.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return settings.config_path
