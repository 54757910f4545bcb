"""CAPFLOW_REQUIRE_DATA / CAPFLOW_REQUIRE_SLURM turn the skips of tests that need the reference data
or a Slurm cluster into failures; without them those tests skip. Runs this suite's conftest in a
throw-away pytest session (pytester)."""

import pytest

from conftest import REPO

PROBE_TESTS = '''
import pytest

@pytest.mark.integration
def test_needs_data(benchmark_root):
    pass

@pytest.mark.slurm
def test_needs_slurm():
    pytest.skip("no Slurm node is up")

def test_unmarked_skip():
    pytest.skip("not applicable here")
'''


@pytest.fixture
def probe(pytester, tmp_path, monkeypatch):
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    integration: data\n    slurm: cluster\n")
    pytester.makepyfile(test_probe=PROBE_TESTS)
    monkeypatch.setenv("CAPFLOW_DATA_DIR", str(tmp_path / "no-data-here"))
    for flag in ("CAPFLOW_REQUIRE_DATA", "CAPFLOW_REQUIRE_SLURM"):
        monkeypatch.delenv(flag, raising=False)
    return pytester


def test_without_the_flags_missing_prerequisites_skip(probe):
    probe.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(skipped=3)


def test_require_data_fails_the_data_test_only(probe, monkeypatch):
    monkeypatch.setenv("CAPFLOW_REQUIRE_DATA", "1")
    result = probe.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(skipped=2, errors=1)
    result.stdout.fnmatch_lines(["*reference data not found at *no-data-here (set CAPFLOW_DATA_DIR), "
                                 "and CAPFLOW_REQUIRE_DATA=1 forbids skipping*"])


def test_require_slurm_fails_a_skipped_slurm_test(probe, monkeypatch):
    monkeypatch.setenv("CAPFLOW_REQUIRE_SLURM", "1")
    monkeypatch.setenv("CAPFLOW_REQUIRE_DATA", "0")
    result = probe.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(skipped=2, failed=1)
    result.stdout.fnmatch_lines(["no Slurm node is up, and CAPFLOW_REQUIRE_SLURM=1 forbids skipping",
                                 "FAILED test_probe.py::test_needs_slurm*"])
