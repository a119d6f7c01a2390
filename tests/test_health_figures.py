"""scripts/health_figures.py: the figures the README quotes for device/health.py."""

from __future__ import annotations

import random

from tests.conftest import load_script

health_figures = load_script("health_figures")


def test_what_is_timed_is_read_as_a_pi(tmp_path):
    """A tree where nothing is found would time a check that reads nothing."""
    from device.health import PiSensors

    health_figures.make_fake_pi(tmp_path)
    sensors = PiSensors(tmp_path, root=tmp_path)
    sensors.find()
    assert (sensors.under_voltage(), sensors.temperature_c()) == (False, 48.3)
    check, sample = health_figures.check_times(3)
    assert check > 0 and sample > 0


def test_a_saved_memoji_is_measured_with_its_thumbnail(capsys):
    from device.avatar import Look, render_png
    from device.gallery import SAVED_PX, THUMB_PX, _thumbnail_png

    memoji = render_png(Look.random(random.Random(1)), "angry", size=SAVED_PX)  # the first look
    assert health_figures.largest_saved_bytes(1) >= len(memoji) + len(_thumbnail_png(memoji, THUMB_PX))
    assert health_figures.main(["--looks", "1", "--checks", "2"]) == 0
    assert "(1 random looks)" in capsys.readouterr().out
