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
