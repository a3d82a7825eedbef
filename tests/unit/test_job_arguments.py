"""The options of `cruncan redrive` and `cruncan cleanup`: what parses, and the message for what does not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.cli import build_parser, main
from entrypoints.durations import LONGEST, format_duration, parse_duration, parse_retention
from entrypoints.redrive.main import RedriveOptions

DURATIONS = st.integers(min_value=0, max_value=int(LONGEST.total_seconds())).map(lambda s: timedelta(seconds=s))
REQUEST_IDS = st.text(st.sampled_from("0123456789"), min_size=20, max_size=20)


def parsed(*argv: str) -> RedriveOptions:
    return RedriveOptions.of(build_parser().parse_args(["redrive", *argv]))


@given(DURATIONS)
def test_a_formatted_duration_reads_back(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from("smhdw")), min_size=1, max_size=4))
def test_a_sum_of_parts_is_their_total(parts: list[tuple[int, str]]) -> None:
    sizes = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = "".join(f"{count}{unit}" for count, unit in parts)
    assert parse_duration(text) == timedelta(seconds=sum(count * sizes[unit] for count, unit in parts))


@given(st.text(max_size=20))
def test_any_text_parses_or_is_refused_with_a_message(text: str) -> None:
    try:
        parsed_value = parse_duration(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert timedelta(0) <= parsed_value <= LONGEST
        return
    assert "duration" in message or "longer than" in message


@pytest.mark.parametrize("text", ["", "5", "h", "-5m", "5 m", "5x", "1.5h", "٣h", "5m ", "9999999999s", "36501d"])
def test_hostile_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration|is longer than"):
        parse_duration(text)


def test_retention_is_a_positive_duration_or_off() -> None:
    assert parse_retention("off") is None
    assert parse_retention("OFF") is None
    assert parse_retention("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="keep nothing"):
        parse_retention("0s")


@given(
    cause=st.none()
    | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=50),
    older=st.none() | DURATIONS,
    ids=st.lists(REQUEST_IDS, max_size=3),
    limit=st.none() | st.integers(1, 999_999_999),
    dry_run=st.booleans(),
)
def test_options_parse_to_what_they_say(
    cause: str | None, older: timedelta | None, ids: list[str], limit: int | None, dry_run: bool
) -> None:
    argv = [] if cause is None else [f"--cause={cause}"]
    argv += [] if older is None else ["--older-than", format_duration(older)]
    argv += [arg for request_id in ids for arg in ("--id", request_id)]
    argv += [] if limit is None else ["--limit", str(limit)]
    argv += ["--dry-run"] if dry_run else []

    assert parsed(*argv) == RedriveOptions(cause, older, None, frozenset(ids), limit, dry_run)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--limit", "0"], "argument --limit: '0' is not a whole number from 1 to 999999999"),
        (["--limit", "-3"], "argument --limit: '-3' is not a whole number"),
        (["--limit", "1e3"], "argument --limit: '1e3' is not a whole number"),
        (["--id", "42"], "argument --id: '42' is not a request ID: expected 20 digits"),
        (["--id", "0000000000000000000x"], "is not a request ID"),
        (["--older-than", "yesterday"], "argument --older-than: 'yesterday' is not a duration"),
        (["--cause", ""], "argument --cause: a cause is 1 to 1000 characters"),
        (["--cause", "x" * 1001], "argument --cause: a cause is 1 to 1000 characters"),
        (["--older-than", "2h", "--newer-than", "1h"], "--newer-than must be longer than --older-than"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_stop_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["redrive", *argv])

    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_cleanup_takes_only_a_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["cleanup", "--dry-run"]).dry_run
    with pytest.raises(SystemExit):
        main(["cleanup", "--limit", "3"])
    assert "unrecognized arguments: --limit 3" in capsys.readouterr().err


def test_a_malformed_retention_setting_names_its_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cleanup", "--set", "cleanup.outbox_retention=forever"]) == 2
    assert "setting cleanup.outbox_retention: 'forever' is not a duration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["redrive"], "re-drove 0 request(s) in 0 batch(es)"),
        (["redrive", "--dry-run", "--cause", "503"], "dry run: 0 request(s) would be re-driven"),
        (["redrive", "--from-dlq"], "re-drove 0 request(s) and 0 poison message(s) from the dead letters"),
        (["redrive", "--from-dlq", "--dry-run"], "dry run: 0 dead letter(s) would be re-driven"),
        (["cleanup"], "deleted 0 sent outbox message(s), 0 request(s), 0 expired idempotency key(s) in all"),
        (["cleanup", "--dry-run"], "dry run: would delete 0 sent outbox message(s)"),
    ],
)
def test_the_jobs_run_in_memory(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--set", "storage.backend=memory", "--set", "messaging.backend=memory"]) == 0
    assert said in capsys.readouterr().out


def test_from_dlq_takes_no_selection(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["redrive", "--from-dlq", "--cause", "503"])
    assert "--from-dlq takes every dead letter" in capsys.readouterr().err
