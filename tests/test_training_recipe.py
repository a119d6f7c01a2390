"""Recipe overrides (`python -m training train --set FIELD=VALUE`)."""

import re

import pytest

from training.__main__ import main
from training.train import RECIPES


def test_overrides_are_typed_like_the_field():
    recipe = RECIPES["default"].with_overrides(
        {"augment": "1.0", "widths": "40,80,160,320", "cosine": "false", "batch_size": "128"})
    assert recipe.augment == 1.0 and recipe.widths == (40, 80, 160, 320)
    assert recipe.cosine is False and recipe.batch_size == 128
    assert recipe.dropout == RECIPES["default"].dropout  # untouched fields keep the recipe's value


@pytest.mark.parametrize("overrides, message", [
    ({"augmentation": "1"}, "--set augmentation: unknown recipe field"),
    ({"augment": "lots"}, "--set augment=lots: expected float like"),
    ({"cosine": "yes"}, "--set cosine=yes: expected bool like True"),
    ({"widths": "32,sixty-four"}, "--set widths=32,sixty-four: expected tuple"),
    # values of the right type that no run could use (a ZeroDivisionError, a zip() error before)
    ({"batch_size": "0"}, "--set batch_size=0: expected at least 1"),
    ({"widths": "32,64"}, "--set widths=(32, 64): expected four filter counts"),
    ({"dropout": "1"}, "--set dropout=1.0: expected from 0 to below 1"),
    ({"learning_rate": "0"}, "--set learning_rate=0.0: expected above 0"),
    ({"distill": "1.5"}, "--set distill=1.5: expected from 0 to 1"),
])
def test_bad_override_names_the_field(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RECIPES["default"].with_overrides(overrides)


def test_cli_reports_a_bad_set_option_and_exits_2(tmp_path, capsys):
    data = tmp_path / "none.csv"
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--set", "augment"]) == 2
    assert "--set augment: expected FIELD=VALUE" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--set", "nope=1"]) == 2
    assert "unknown recipe field" in capsys.readouterr().err
