"""Training configs: strict keys, ``key=value`` overrides, the repo's own config files."""

from pathlib import Path

import pytest

from training.config import ConfigError, load_config, parse_config
from training.settings import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "configs").glob("train*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_repo_configs_load(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    assert config.train.optimizer != "auto"


def test_repo_has_smoke_and_demo_configs() -> None:
    names = {p.name for p in CONFIGS}
    assert {"train_smoke.yaml", "train_demo_v1.yaml", "train_demo.yaml"} <= names


def test_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 2\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"train\.learning_rate: Extra inputs are not permitted"):
        load_config(path)


def test_unknown_top_level_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="trian"):
        parse_config({"name": "x", "trian": {}})


def test_overrides_apply_dotted_keys_with_yaml_values() -> None:
    config = parse_config(
        {"name": "x"},
        ["train.epochs=3", "train.lr0=1e-3", "export.imgsz=[256, 320]", "data.synthetic.seed=7"],
    )
    assert config.train.epochs == 3
    assert config.train.lr0 == pytest.approx(0.001)
    assert config.export_imgsz == (256, 320)
    assert config.data.synthetic.seed == 7


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs", "key=value"),
        ("=3", "key=value"),
        ("train..epochs=3", "key=value"),
        ("train.epochs=three", r"train\.epochs"),
        ("train.optimizer=auto", r"train\.optimizer"),
        ("train.imgsz=300", r"multiple of 32"),
        ("train.nope=1", r"train\.nope: Extra inputs"),
        ("name.sub=1", "not a section"),
        ("train.lr0=[1", "not valid YAML"),
    ],
)
def test_bad_overrides_are_clear_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"name": "x"}, [override])


def test_config_hash_follows_resolved_values() -> None:
    base = parse_config({"name": "x"})
    assert base.config_hash() == parse_config({"name": "x", "train": {"epochs": 10}}).config_hash()
    assert base.config_hash() != parse_config({"name": "x"}, ["train.epochs=11"]).config_hash()


def test_local_source_needs_a_path() -> None:
    with pytest.raises(ConfigError, match=r"data\.path is required"):
        parse_config({"name": "x", "data": {"source": "local"}})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_a_bare_key_names_the_one_section_that_has_it() -> None:
    config = parse_config({"name": "x"}, ["epochs=3", "optimizer=SGD", "min_map50_95=0.2"])
    assert config.train.epochs == 3
    assert config.train.optimizer == "SGD"
    assert config.gates.min_map50_95 == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("imgsz=320", r"ambiguous: write one of train\.imgsz, export\.imgsz"),
        ("learning_rate=0.1", "'learning_rate' is not a config field"),
    ],
)
def test_bad_bare_keys_are_clear_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"name": "x"}, [override])


def test_with_train_params_validates_the_new_values() -> None:
    base = parse_config({"name": "x"})
    tuned = base.with_train_params(lr0=0.01, batch=8, optimizer="SGD")
    assert (tuned.train.lr0, tuned.train.batch, tuned.train.optimizer) == (0.01, 8, "SGD")
    assert tuned.config_hash() != base.config_hash()
    with pytest.raises(ConfigError, match=r"train\.lr0"):
        base.with_train_params(lr0=-1)
