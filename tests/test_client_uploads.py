"""Files go up as multipart/form-data (``kind``, ``input`` as a JSON string, one
part per file field) and come back down as the job's artifacts: client and CLI."""

import contextlib
import io
import json

import pytest

from longrun_client import Conflict
from longrun_client.cli import STATUS_EXIT, ExitCode

pytestmark = pytest.mark.integration


def file_kind(client) -> dict:
    for kind in client.kinds():
        if kind["file_fields"]:
            return kind
    pytest.skip("no job kind on this server takes files (codegen arrives with branch compat)")


def small_pdf(text: str) -> bytes:
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": text})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_client_uploads_files_and_downloads_them_back(lr_client, tmp_path):
    kind = file_kind(lr_client)
    first, *rest = kind["file_fields"]
    path = tmp_path / "Data Sheet.pdf"
    path.write_bytes(small_pdf("first"))
    uploads = {first: path, **{field: small_pdf(field) for field in rest}}
    job = lr_client.submit(kind["name"], {"instruction": "blink the LED"}, files=uploads, priority=2,
                           metadata={"ticket": 7})
    try:
        assert job.last["priority"] == 2 and job.last["metadata"]["ticket"] == 7
        names = job.artifacts()
        name = next(n for n in names if n.startswith(first))
        assert job.download(name, tmp_path / "back.pdf").read_bytes() == path.read_bytes()
    finally:
        with contextlib.suppress(Conflict):  # it may have finished already
            job.cancel()


def test_cli_submits_files_and_result_o_saves_them_however_the_job_ended(run_cli, lr_client, tmp_path):
    kind = file_kind(lr_client)
    args = []
    for field in kind["file_fields"]:
        (tmp_path / f"{field}.pdf").write_bytes(small_pdf(field))
        args += ["--file", f"{field}={tmp_path / f'{field}.pdf'}"]
    run = run_cli("submit", kind["name"], "-i", "instruction=blink the LED", *args, "--json")
    assert run.returncode == ExitCode.OK, run.stderr
    job_id = json.loads(run.stdout)["id"]
    with contextlib.suppress(Conflict):  # it may have finished already
        lr_client.job(job_id).cancel()
    status = lr_client.job(job_id).wait(timeout=60)["status"]
    saved = run_cli("result", job_id, "-o", str(tmp_path / "out"))
    assert saved.returncode == STATUS_EXIT[status], saved.stderr  # 0, 3 or 4: the files come either way
    for field in kind["file_fields"]:
        matches = [p for p in (tmp_path / "out").iterdir() if p.name.startswith(field)]
        assert [p.read_bytes() for p in matches] == [(tmp_path / f"{field}.pdf").read_bytes()]


def test_cli_file_for_a_kind_that_takes_none_exits_2(run_cli, tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4 not really")
    run = run_cli("submit", "sleep", "--file", f"doc={tmp_path / 'x.pdf'}")
    assert run.returncode == ExitCode.USAGE, (run.stdout, run.stderr)
