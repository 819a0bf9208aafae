"""Files go up as multipart/form-data (``kind``, ``input`` as a JSON string, one
part per file field) and come back down as the job's artifacts: client and CLI,
shown with the codegen kind (file fields ``datasheet`` and ``schematic``)."""

import contextlib
import json

import pytest

from longrun_client import Conflict
from longrun_client.cli import STATUS_EXIT, ExitCode

pytestmark = pytest.mark.integration


def codegen_fields(client) -> list[str]:
    kind = next(kind for kind in client.kinds() if kind["name"] == "codegen")
    assert kind["file_fields"] == ["datasheet", "schematic"]
    return kind["file_fields"]


def test_client_uploads_files_and_downloads_them_back(lr_client, tmp_path, datasheet_pdf, schematic_pdf):
    codegen_fields(lr_client)
    path = tmp_path / "Data Sheet.pdf"
    path.write_bytes(datasheet_pdf)
    # A path, and bytes: both are accepted as a file.
    job = lr_client.submit(
        "codegen",
        {"instruction": "blink the LED"},
        files={"datasheet": path, "schematic": schematic_pdf},
        priority=2,
        metadata={"ticket": 7},
    )
    try:
        assert job.last["priority"] == 2 and job.last["metadata"]["ticket"] == 7
        assert job.last["metadata"]["uploads"]["datasheet"] == "Data Sheet.pdf"
        names = job.artifacts()
        assert {"datasheet.pdf", "schematic.pdf"} <= set(names)
        assert job.download("datasheet.pdf", tmp_path / "back.pdf").read_bytes() == datasheet_pdf
        assert job.download("schematic.pdf", tmp_path / "back2.pdf").read_bytes() == schematic_pdf
    finally:
        with contextlib.suppress(Conflict):  # it may have finished already
            job.cancel()


def test_cli_submits_files_and_result_o_saves_them_however_the_job_ended(
    run_cli, lr_client, tmp_path, datasheet_pdf, schematic_pdf
):
    uploads = {"datasheet": datasheet_pdf, "schematic": schematic_pdf}
    args = []
    for field in codegen_fields(lr_client):
        (tmp_path / f"{field}.pdf").write_bytes(uploads[field])
        args += ["--file", f"{field}={tmp_path / f'{field}.pdf'}"]
    run = run_cli("submit", "codegen", "-i", "instruction=blink the LED", *args, "--priority", "1", "--json")
    assert run.returncode == ExitCode.OK, run.stderr
    job_id = json.loads(run.stdout)["id"]
    with contextlib.suppress(Conflict):  # it may have finished already
        lr_client.job(job_id).cancel()
    status = lr_client.job(job_id).wait(timeout=60)["status"]
    saved = run_cli("result", job_id, "-o", str(tmp_path / "out"))
    assert saved.returncode == STATUS_EXIT[status], saved.stderr  # 0, 3 or 4: the files come either way
    for field, data in uploads.items():
        assert (tmp_path / "out" / f"{field}.pdf").read_bytes() == data


def test_cli_file_for_a_kind_that_takes_none_exits_2(run_cli, tmp_path, datasheet_pdf):
    (tmp_path / "x.pdf").write_bytes(datasheet_pdf)
    run = run_cli("submit", "sleep", "--file", f"doc={tmp_path / 'x.pdf'}")
    assert run.returncode == ExitCode.USAGE, (run.stdout, run.stderr)
    assert "takes no files" in run.stderr
