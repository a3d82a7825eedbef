import io
import json

import pytest

from domain.model.snowflake import SequenceShare
from entrypoints.api.processes import FLAG, Handoff
from entrypoints.cli import build_parser, main


def test_a_bad_number_of_processes_stops_cruncan_api_naming_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api", "--set", "http.processes=zero"]) == 2
    assert (
        "cruncan: configuration error: setting http.processes is 'zero'; expected a whole number from 1 to 64, or auto"
        in capsys.readouterr().err
    )


def test_several_processes_refuse_the_in_memory_store_which_one_process_keeps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["api", "--set", "http.processes=2"]) == 2
    assert "setting http.processes is 2, but storage.backend memory keeps requests inside one process" in (
        capsys.readouterr().err
    )


def test_the_option_the_supervisor_sets_is_not_offered_to_people(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["api", "--help"])

    assert FLAG not in capsys.readouterr().out


def test_a_process_reads_its_handoff_and_its_share_of_the_ids_from_its_number() -> None:
    written = {"settings": {"http": {"port": 0}}, "listener_fd": 3, "ready_fd": 4, "supervisor_pid": 99}

    handoff = Handoff.receive(io.StringIO(json.dumps(written)), "2/3")

    assert (handoff.listener_fd, handoff.ready_fd, handoff.supervisor_pid) == (3, 4, 99)
    assert handoff.share == SequenceShare(index=1, of=3)
    assert handoff.slot == "2/3"
    assert handoff.configuration().http.port() == 0
