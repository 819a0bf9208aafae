"""The CLI's plain parts: input and file arguments, the progress line, tables, exit codes."""

import io

import pytest

from longrun_client import errors
from longrun_client.cli import (
    ExitCode,
    UsageError,
    build_input,
    exit_code_for,
    format_table,
    main,
    parse_files,
    parse_value,
    render_progress,
)


def test_input_from_json_and_key_value_pairs_on_top(tmp_path):
    assert build_input('{"seconds": 1, "steps": 2}', ["steps=4", "name=hello", "fail=true", "tags=[1,2]"]) == {
        "seconds": 1,
        "steps": 4,
        "name": "hello",
        "fail": True,
        "tags": [1, 2],
    }
    path = tmp_path / "in.json"
    path.write_text('{"seconds": 0.5}')
    assert build_input(f"@{path}", []) == {"seconds": 0.5}
    assert parse_value("007x") == "007x" and parse_value("2.5") == 2.5


@pytest.mark.parametrize(
    "input_json, pairs", [("{nope", []), ("[1]", []), (None, ["novalue"]), (None, ["=x"]), ("@/no/such/file.json", [])]
)
def test_bad_input_arguments_are_usage_errors(input_json, pairs):
    with pytest.raises(UsageError):
        build_input(input_json, pairs)


def test_file_arguments_name_a_field_and_an_existing_file(tmp_path):
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF")
    assert parse_files([f"datasheet={path}"]) == [("datasheet", path)]
    for bad in (f"{path}", "datasheet=/no/such.pdf", f"={path}"):
        with pytest.raises(UsageError):
            parse_files([bad])


def test_progress_line_shows_bar_percentage_status_step_and_name():
    line = render_progress(
        "running",
        {"percentage": 50, "current_step": 2, "total_steps": 4, "step_name": "parse", "message": "page 3"},
        width=10,
    )
    assert line == "[#####-----]  50.0%  running  step 2/4  parse  - page 3"
    assert render_progress("completed", {"percentage": 99}, width=4).startswith("[####] 100.0%")
    assert render_progress("pending", None, width=4) == "[----]   0.0%  pending"


def test_table_pads_columns_and_shows_missing_values_as_dashes():
    table = format_table(
        [{"id": "abc", "status": "running"}, {"id": "d", "status": None}], [("id", "ID"), ("status", "STATUS")]
    )
    assert table.splitlines() == ["ID   STATUS", "abc  running", "d    -"]


@pytest.mark.parametrize(
    "error, code",
    [
        (errors.JobFailed("x", status=409), ExitCode.JOB_FAILED),
        (errors.JobCancelled("x", status=409), ExitCode.JOB_CANCELLED),
        (errors.JobNotFinished("x", status=409), ExitCode.NOT_FINISHED),
        (errors.WaitTimeout("x"), ExitCode.NOT_FINISHED),
        (errors.NotFound("x", status=404), ExitCode.NOT_FOUND),
        (errors.Expired("x", status=410), ExitCode.NOT_FOUND),
        (errors.Unavailable("x"), ExitCode.UNAVAILABLE),
        (errors.RateLimited("x", status=429), ExitCode.UNAVAILABLE),
        (errors.Unauthorized("x", status=401), ExitCode.UNAUTHORIZED),
        (errors.Conflict("x", status=409), ExitCode.CONFLICT),
        (errors.InvalidInput("x", status=400), ExitCode.USAGE),
        (errors.ServerError("x", status=500), ExitCode.ERROR),
    ],
)
def test_each_error_has_its_exit_code(error, code):
    assert exit_code_for(error) == code


def test_exit_codes_are_distinct():
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["status"], ["ls", "--limit", "many"], ["ls", "--status", "sleeping"]]
)
def test_argument_errors_exit_2(argv, capsys):
    code, _, _ = run(*argv)
    assert code == ExitCode.USAGE
    assert "usage: longrun" in capsys.readouterr().err


def test_local_usage_errors_exit_2_before_any_request():
    # Nothing listens on port 9: a request would be exit 6, not 2.
    code, out, err = run("--url", "http://127.0.0.1:9", "submit", "sleep", "-i", "oops")
    assert (code, out) == (ExitCode.USAGE, "")
    assert "-i expects key=value" in err


def test_an_unreachable_server_exits_6():
    code, _, err = run("--url", "http://127.0.0.1:9", "status", "0" * 32)
    assert code == ExitCode.UNAVAILABLE
    assert "cannot reach http://127.0.0.1:9" in err


def test_log_lines_show_time_level_logger_and_message():
    from longrun_client.cli import format_log

    assert (
        format_log({"ts": "2026-01-01T00:00:00Z", "level": "INFO", "logger": "tasks.sleep", "message": "step 1"})
        == "2026-01-01T00:00:00Z INFO tasks.sleep: step 1"
    )
    assert format_log("plain line") == "plain line"


def test_the_bar_keeps_its_place_when_an_event_has_no_progress():
    from longrun_client.cli import ProgressPrinter
    from longrun_client.client import ProgressEvent

    stream = io.StringIO()
    printer = ProgressPrinter(stream)
    printer(ProgressEvent("abcdef0123", "running", 3, {"percentage": 50, "current_step": 2, "total_steps": 4}))
    printer(ProgressEvent("abcdef0123", "cancelled", 4, {}))
    printer.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("abcdef01 [############------------]  50.0%  running  step 2/4")
    assert lines[1].startswith("abcdef01 [############------------]  50.0%  cancelled  step 2/4")
