from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"SENTIMENT_{name.upper()}" for name in Settings.model_fields if f"SENTIMENT_{name.upper()}" not in readme
    ]
    assert missing == []


def test_env_and_dotenv_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SENTIMENT_MAX_QUEUE=77\nSENTIMENT_API_KEYS=key-one-111, key-two-222\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTIMENT_LOG_TEXT", "hash")
    settings = Settings()
    assert (settings.max_queue, settings.api_keys, settings.log_text) == (77, ["key-one-111", "key-two-222"], "hash")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SENTIMENT_LOG_MODE", "sometimes"),
        ("SENTIMENT_MAX_QUEUE", "0"),
        ("SENTIMENT_DATABASE_URL", "not a url"),
        ("SENTIMENT_PORT", "70000"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_named_models_default_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTIMENT_MODELS", " en=model/default , tickets=/models/tickets")
    assert Settings().served_models() == {"en": Path("model/default"), "tickets": Path("/models/tickets")}
    monkeypatch.setenv("SENTIMENT_DEFAULT_MODEL", "tickets")
    settings = Settings()
    assert list(settings.served_models()) == ["tickets", "en"] and settings.default_model_name == "tickets"


def test_one_model_keeps_its_oip_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTIMENT_MODEL_DIR", "runs/mine")
    assert Settings().served_models() == {"sentiment": Path("runs/mine")}
    monkeypatch.setenv("SENTIMENT_DEFAULT_MODEL", "mine")
    assert Settings().served_models() == {"mine": Path("runs/mine")}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SENTIMENT_MODELS": "en=a,zh=b", "SENTIMENT_DEFAULT_MODEL": "fr"}, "'fr' is not one of"),
        ({"SENTIMENT_MODELS": "en=a,en=b"}, "'en' is given twice"),
        ({"SENTIMENT_MODELS": "e n=a"}, "model name 'e n' must be"),
        ({"SENTIMENT_MODELS": "en"}, "is not NAME=DIR"),
        ({"SENTIMENT_MODELS": "en=a", "SENTIMENT_MODEL_DIR": "b"}, "both set"),
        ({"SENTIMENT_DEFAULT_MODEL": "a/b"}, "not a valid model name"),
    ],
)
def test_bad_models_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()
