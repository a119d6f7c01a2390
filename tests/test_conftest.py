"""conftest's CI rule: under CI=true a skipped test, or a file skipped at import, fails."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# The hooks under test, as tests/conftest.py defines them (not a copy).
HOOKS = ("from tests.conftest import (pytest_configure, pytest_make_collect_report,\n"
         "                            pytest_runtest_makereport)\n")

SKIPPING = """
import pytest

def test_a_tool_is_missing():
    pytest.skip("no chromium here")

@pytest.mark.skipif(True, reason="systemd-analyze not installed")
def test_skipif():
    pass

@pytest.mark.skip_ok_in_ci
def test_about_the_machine():
    pytest.skip("a real screen is attached")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_xfail():
    raise AssertionError

def test_runs():
    pass
"""


@pytest.fixture
def inner(pytester):
    pytester.makeconftest(HOOKS)
    return pytester


@pytest.mark.parametrize("ci", ["true", "false", None])
def test_a_skip_fails_only_under_ci_true(inner, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    inner.makepyfile(test_inner=SKIPPING)
    result = inner.runpytest("-p", "no:cacheprovider")
    if ci == "true":
        result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)  # errors: setup
        result.stdout.fnmatch_lines(["*skipped under CI=true*no chromium here*",
                                     "*skipped under CI=true*systemd-analyze not installed*"])
    else:
        result.assert_outcomes(passed=1, skipped=3, xfailed=1)


@pytest.mark.parametrize("ci", ["true", "false"])
def test_a_file_skipped_at_import_is_a_collection_error_under_ci(inner, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    inner.makepyfile(test_inner="""
        import pytest

        pytest.importorskip("no_such_module_anywhere", reason="TensorFlow is not installed")

        def test_never():
            pass
        """)
    result = inner.runpytest("-p", "no:cacheprovider")
    if ci == "true":
        assert result.ret != 0
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*skipped under CI=true*TensorFlow is not installed*"])
    else:
        assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
        result.assert_outcomes(skipped=1)
