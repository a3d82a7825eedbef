import subprocess
import sys

from tests.e2e.conftest import ROOT


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_the_subcommands():
    result = cli("--help")

    assert result.returncode == 0
    for command in ("api", "demo"):
        assert command in result.stdout


def test_a_bad_flag_value_stops_start_up_naming_the_key():
    result = cli("api", "--set", "http.port=eighty")

    assert result.returncode == 2
    assert "configuration error: --set http.port: setting http.port expects int, got 'eighty'" in result.stderr


def test_a_bad_environment_value_stops_start_up_naming_the_variable():
    result = cli("api", env={"CRUNCAN_STORAGE__BACKEND": "mysql", "PATH": ""})

    assert result.returncode == 2
    assert "setting storage.backend is 'mysql'" in result.stderr


def test_a_missing_config_file_stops_start_up(tmp_path):
    result = cli("api", "--config", str(tmp_path / "nope.yaml"))

    assert result.returncode == 2
    assert "nope.yaml does not exist" in result.stderr
