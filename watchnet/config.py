"""All of watchnet's configuration in one pydantic-settings model.

Values come, highest priority first, from: keyword arguments, ``WATCHNET_*`` environment variables
(nested with ``__``, e.g. ``WATCHNET_DETECTOR__STRIDE=3``), the YAML config file, then the defaults
below. Nothing else in the package reads the environment or hard-codes a tunable number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from watchnet.records import CLASSES

Point = tuple[float, float]


class ZoneRule(BaseModel):
    """A polygon in pixel coordinates; tracks whose bottom-centre enters or leaves it raise events."""

    name: str
    polygon: list[Point] = Field(min_length=3)
    classes: list[str] = Field(default_factory=lambda: ["person"])


class LineRule(BaseModel):
    """A directed line segment in pixel coordinates; tracks crossing it raise events (in / out)."""

    name: str
    start: Point
    end: Point
    classes: list[str] = Field(default_factory=lambda: ["person"])


class CameraConfig(BaseModel):
    """One camera: a name, where its pictures come from, where it stands, and its rules."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    url: str = Field(description="Video file, folder of images, rtsp://, http(s)://, or webcam index/device")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    fps_cap: float | None = Field(default=None, gt=0, description="Process at most this many frames/s")
    live: bool | None = Field(default=None, description="Force live (drop stale frames) or file pacing")
    zones: list[ZoneRule] = Field(default_factory=list)
    lines: list[LineRule] = Field(default_factory=list)


class DetectorConfig(BaseModel):
    """Which detector runs, how big its input is, and how often it runs."""

    model: str = "nanodet"
    input_size: int = Field(default=416, ge=128, le=1280)
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {
            "person": 0.35, "bicycle": 0.35, "car": 0.35, "motorcycle": 0.35, "bus": 0.4, "truck": 0.4,
        }
    )
    nms_iou: float = Field(default=0.6, gt=0, lt=1)
    stride: int = Field(default=2, ge=1, le=30, description="Run the detector every N-th processed frame")
    motion_gate: bool = Field(default=True, description="Skip the detector on frames without motion")
    motion_threshold: float = Field(
        default=0.002, ge=0, le=1, description="Fraction of changed pixels that counts as motion"
    )

    @field_validator("thresholds")
    @classmethod
    def _known_classes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes {sorted(unknown)}; known: {list(CLASSES)}")
        return value


class TrackerConfig(BaseModel):
    """ByteTrack settings (supervision's implementation)."""

    activation_threshold: float = 0.4
    lost_track_buffer: int = Field(default=30, ge=1, description="Frames a lost track is kept")
    matching_threshold: float = 0.8
    min_consecutive_frames: int = Field(default=2, ge=1)
    path_every: int = Field(default=5, ge=1, description="Keep every N-th box in a track's stored path")


class RuntimeConfig(BaseModel):
    """ONNX Runtime settings."""

    providers: list[str] | None = Field(default=None, description="None: best available (CUDA, then CPU)")
    intra_op_threads: int = Field(default=0, ge=0, description="0: let ONNX Runtime decide")
    batch_size: int = Field(default=16, ge=1, description="Largest batch of crops per model call")


class StreamConfig(BaseModel):
    """How live sources reconnect."""

    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    max_reconnects: int | None = Field(default=None, description="None: retry for ever")


class Settings(BaseSettings):
    """The whole configuration of one watchnet deployment."""

    model_config = SettingsConfigDict(
        env_prefix="WATCHNET_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("watchnet")))
    models_dir: Path | None = Field(default=None, description="Model cache; default: user cache dir")
    model_paths: dict[str, Path] = Field(
        default_factory=dict,
        description="Point a model slot (e.g. 'nanodet', 'detector') at your own ONNX file instead of the store",
    )
    database_url: str | None = Field(default=None, description="Default: SQLite file under home")
    cameras: list[CameraConfig] = Field(default_factory=list)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    stream: StreamConfig = Field(default_factory=StreamConfig)
    identity_mode: Literal["watchlist-only", "keep-embeddings"] = Field(
        default="watchlist-only",
        description="watchlist-only: never write a face embedding of an unenrolled person to disk",
    )
    retention_days: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _unique_camera_names(self) -> Settings:
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {dupes}")
        return self

    # --- derived paths: one data directory holds all state -------------------------------------
    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or Path(platformdirs.user_cache_dir("watchnet")) / "models"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'watchnet.db'}"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings from an optional YAML file, the environment and explicit overrides.

        Environment variables beat the file; explicit keyword overrides beat both.
        """
        file_values: dict[str, Any] = {}
        if config_file is not None:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"config file not found: {path}")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
            file_values = loaded
        env_only = cls()  # environment + defaults
        merged = _deep_merge(file_values, env_only.model_dump(exclude_defaults=True))
        merged = _deep_merge(merged, overrides)
        return cls(**merged)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
