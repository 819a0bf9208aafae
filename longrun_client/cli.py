"""``longrun``: the command line on top of the Python client.

    longrun submit sleep -i seconds=3 -i steps=3 --wait
    longrun ls --status running
    longrun result ID -o out/
    longrun batch submit items.jsonl --kind inference --wait
    longrun batch results ID

Server and key come from ``--url``/``LONGRUN_URL`` and ``--api-key``/``LONGRUN_TOKEN``
(not the server's LONGRUN_API_KEYS). ``--json`` prints machine-readable JSON on stdout;
progress and messages go to stderr. The exit code tells the outcome apart
(see ``ExitCode``, documented in docs/client.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import IO, Any

from longrun_client.batches import BatchHandle
from longrun_client.client import DEFAULT_URL, Client, JobHandle, ProgressEvent
from longrun_client.errors import (
    Conflict,
    JobCancelled,
    JobFailed,
    JobNotFinished,
    LongrunClientError,
    NotFound,
    Unauthorized,
    Unavailable,
)


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # anything not listed below (a server 500, a bug)
    USAGE = 2  # bad arguments, or input the server rejected (400)
    JOB_FAILED = 3
    JOB_CANCELLED = 4
    NOT_FOUND = 5  # no such job or file (404), or expired (410)
    UNAVAILABLE = 6  # server unreachable, 503, or rate limited (429)
    NOT_FINISHED = 7  # --timeout passed while waiting, or result of an unfinished job
    UNAUTHORIZED = 8  # missing or wrong API key (401/403)
    CONFLICT = 9  # any other 409, e.g. cancelling a finished job


def exit_code_for(error: LongrunClientError) -> ExitCode:
    """The exit code an error ends the CLI with (most specific class first)."""
    for cls, code in (
        (JobFailed, ExitCode.JOB_FAILED),
        (JobCancelled, ExitCode.JOB_CANCELLED),
        (JobNotFinished, ExitCode.NOT_FINISHED),
        (TimeoutError, ExitCode.NOT_FINISHED),
        (NotFound, ExitCode.NOT_FOUND),
        (Unavailable, ExitCode.UNAVAILABLE),
        (Unauthorized, ExitCode.UNAUTHORIZED),
        (Conflict, ExitCode.CONFLICT),
    ):
        if isinstance(error, cls):
            return code
    if error.status in (400, 413, 415, 422):
        return ExitCode.USAGE
    return ExitCode.ERROR


STATUS_EXIT = {"completed": ExitCode.OK, "failed": ExitCode.JOB_FAILED, "cancelled": ExitCode.JOB_CANCELLED}


class UsageError(Exception):
    """Raised when command-line arguments cannot be understood (exit code 2)."""


# -- argument helpers (plain functions) ----------------------------------------------------


def parse_value(text: str) -> Any:
    """``-i key=value`` values: JSON when they parse as JSON (numbers, true, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_input(input_json: str | None, pairs: Sequence[str]) -> dict[str, Any]:
    """The job input from ``--input JSON`` (or ``@file``) and ``-i key=value`` pairs on top."""
    data: dict[str, Any] = {}
    if input_json is not None:
        text = input_json
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text()
            except OSError as exc:
                raise UsageError(f"--input {input_json}: {exc.strerror}") from None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--input is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise UsageError("--input must be a JSON object")
        data = parsed
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-i expects key=value, got {pair!r}")
        data[key] = parse_value(value)
    return data


def parse_files(pairs: Sequence[str]) -> list[tuple[str, Path]]:
    """``--file field=path`` arguments; every path must be a readable file."""
    files = []
    for pair in pairs:
        field, sep, path = pair.partition("=")
        if not sep or not field or not path:
            raise UsageError(f"--file expects field=path, got {pair!r}")
        if not Path(path).is_file():
            raise UsageError(f"--file {field}: no such file: {path}")
        files.append((field, Path(path)))
    return files


# -- output helpers ------------------------------------------------------------------------


def render_progress(status: str, progress: dict[str, Any] | None, width: int = 24) -> str:
    """One line: bar, percentage, status, step n/N and its name (and message)."""
    progress = progress or {}
    pct = float(progress.get("percentage") or 0)
    if status == "completed":
        pct = 100.0
    filled = round(width * max(0.0, min(pct, 100.0)) / 100)
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {pct:5.1f}%  {status}"]
    current, total = progress.get("current_step"), progress.get("total_steps")
    if total:
        parts.append(f"step {current or 0}/{total}")
    if progress.get("step_name"):
        parts.append(str(progress["step_name"]))
    if progress.get("message"):
        parts.append(f"- {progress['message']}")
    return "  ".join(parts)


class ProgressPrinter:
    """Draws the progress line on stderr: redrawn in place on a terminal, one line per event otherwise."""

    def __init__(self, stream: IO[str], enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.drawn = False
        self.progress: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        # A status change without progress (e.g. cancelled) keeps the bar where it was.
        self.progress = event.progress or self.progress
        line = f"{event.job_id[:8]} {render_progress(event.status, self.progress)}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def format_table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain text table: a header row, then one row per item, columns padded to fit."""
    header = [title for _, title in columns]
    body = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(columns))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def job_rows(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": job.get("id"),
            "kind": job.get("kind"),
            "status": job.get("status"),
            "progress": f"{float((job.get('progress') or {}).get('percentage') or 0):.0f}%",
            "step": (job.get("progress") or {}).get("step_name"),
            "created": job.get("created_at"),
            "finished": job.get("finished_at"),
        }
        for job in jobs
    ]


JOB_COLUMNS = [
    ("id", "ID"),
    ("kind", "KIND"),
    ("status", "STATUS"),
    ("progress", "PROGRESS"),
    ("step", "STEP"),
    ("created", "CREATED"),
    ("finished", "FINISHED"),
]


def format_log(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    when = entry.get("time") or entry.get("timestamp") or entry.get("ts") or entry.get("created_at")
    level = entry.get("level") or entry.get("levelname")
    logger = entry.get("logger") or entry.get("name")
    message = entry.get("message") or entry.get("msg") or json.dumps(entry)
    return " ".join(str(part) for part in (when, level, f"{logger}:" if logger else None, message) if part)


# -- commands ------------------------------------------------------------------------------


class Output:
    def __init__(self, as_json: bool, out: IO[str], err: IO[str]):
        self.as_json, self.out, self.err = as_json, out, err

    def json(self, value: Any) -> None:
        self.out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def note(self, text: str) -> None:
        self.err.write(text + "\n")


def finish(job: dict[str, Any], out: Output) -> ExitCode:
    """Report a final job (result or error) and return the exit code its status means."""
    status = job.get("status")
    if out.as_json:
        out.json(job)
    elif status == "completed":
        out.json(job.get("result"))
    elif status == "failed":
        error = job.get("error") or {}
        out.note(f"job {job['id']} failed: {error.get('type', 'Error')}: {error.get('message', '')}")
    else:
        out.note(f"job {job['id']} {status}")
    return STATUS_EXIT.get(str(status), ExitCode.ERROR)


def wait_for(handle: JobHandle, args: argparse.Namespace, out: Output, timeout: float | None) -> ExitCode:
    printer = ProgressPrinter(out.err, enabled=not args.quiet)
    try:
        job = handle.wait(timeout=timeout, on_progress=printer)
    finally:
        printer.close()
    return finish(job, out)


def cmd_submit(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    job_input = build_input(args.input, args.inputs)
    files = parse_files(args.files)
    metadata = build_input(args.metadata, []) if args.metadata else None
    handle = client.submit(
        args.kind,
        job_input,
        files=files or None,
        priority=args.priority,
        timeout_seconds=args.timeout,
        metadata=metadata,
        idempotency_key=args.idempotency_key,
    )
    if not args.wait:
        if out.as_json:
            out.json(handle.last)
        else:
            out.line(handle.id)
        return ExitCode.OK
    out.note(f"submitted {handle.id}")
    return wait_for(handle, args, out, args.wait_timeout)


def cmd_wait(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    return wait_for(client.job(args.id), args, out, args.timeout)


def cmd_status(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    job = client.job(args.id).status()
    if out.as_json:
        out.json(job)
        return ExitCode.OK
    out.line(f"{job['id']}  {job.get('kind')}  {job.get('status')}")
    out.line("  " + render_progress(job.get("status", ""), job.get("progress")))
    for key in ("created_at", "started_at", "finished_at"):
        if job.get(key):
            out.line(f"  {key.replace('_at', ''):<9} {job[key]}")
    if job.get("error"):
        out.line(f"  error     {job['error'].get('type')}: {job['error'].get('message')}")
    return ExitCode.OK


def cmd_result(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    handle = client.job(args.id)
    try:
        result = handle.result()
    except (JobFailed, JobCancelled):
        if args.output:  # what a failed job took in or left behind can still be looked at
            save_artifacts(handle, Path(args.output), out)
        raise
    saved = save_artifacts(handle, Path(args.output), out) if args.output else []
    if out.as_json:
        out.json({"id": handle.id, "result": result, "artifacts": saved})
    else:
        out.json(result)
    return ExitCode.OK


def save_artifacts(handle: JobHandle, folder: Path, out: Output) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name in handle.artifacts():
        path = handle.download(name, folder)
        saved.append(str(path))
        out.note(f"saved {path}")
    return saved


def cmd_ls(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    page = client.list(status=args.status, kind=args.kind, limit=args.limit)
    if out.as_json:
        out.json({"jobs": page.jobs, "next_cursor": page.next_cursor, "stats": page.stats})
        return ExitCode.OK
    out.line(format_table(job_rows(page.jobs), JOB_COLUMNS))
    if page.next_cursor:
        out.note(f"(more: --limit {args.limit} shows {len(page)}; newest first)")
    return ExitCode.OK


def cmd_cancel(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    job = client.job(args.id).cancel()
    if out.as_json:
        out.json(job)
    else:
        out.line("cancelled" if job.get("status") == "cancelled" else "cancel requested")
    return ExitCode.OK


def cmd_retry(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    if args.id:
        job = client.job(args.id).retry()
        if out.as_json:
            out.json(job.last)
        else:
            out.line(job.id)
        return ExitCode.OK
    if not (args.all or args.since or args.until):
        out.note("retry: give a job ID, or a filter with --since/--until (or --all)")
        return ExitCode.USAGE
    replay = client.retry_many(
        args.status or ["failed"], kind=args.kind, finished_after=args.since, finished_before=args.until, all=args.all
    )
    if out.as_json:
        out.json(replay)
    else:
        state = "done" if replay["status"] == "done" else f"going on (longrun replay {replay['id']})"
        out.line(f"retried {replay['retried']} jobs; {state}")
    return ExitCode.OK


def cmd_logs(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    entries = client.job(args.id).logs()
    if out.as_json:
        out.json(entries)
    else:
        for entry in entries:
            out.line(format_log(entry))
    return ExitCode.OK


def cmd_rm(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    client.job(args.id).delete()
    if out.as_json:
        out.json({"id": args.id, "deleted": True})
    else:
        out.note(f"deleted {args.id}")
    return ExitCode.OK


# What each subcommand runs (set as the parser default ``func``).
Command = Callable[[Client, argparse.Namespace, Output], ExitCode]


# -- parser --------------------------------------------------------------------------------


# -- batches -------------------------------------------------------------------------------


def render_batch_progress(status: str, counts: dict[str, Any], width: int = 24) -> str:
    """One line for a whole batch: bar, percentage of items final, and the counts that matter."""
    total = int(counts.get("total") or 0)
    done = sum(int(counts.get(name) or 0) for name in ("completed", "failed", "cancelled"))
    pct = 100.0 * done / total if total else 100.0
    filled = round(width * pct / 100)
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {pct:5.1f}%  {status}  {done}/{total} done"]
    parts += [f"{name} {counts[name]}" for name in ("running", "failed", "cancelled") if counts.get(name)]
    return "  ".join(parts)


class BatchProgressPrinter(ProgressPrinter):
    """One progress bar for the whole batch (redrawn in place on a terminal)."""

    def __call__(self, batch: dict[str, Any]) -> None:  # type: ignore[override]
        if not self.enabled:
            return
        line = f"{batch['id'][:14]} {render_batch_progress(batch.get('status', '?'), batch.get('counts') or {})}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self.drawn = True
        elif line != getattr(self, "_last_line", None):
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()


def batch_exit(batch: dict[str, Any]) -> ExitCode:
    counts = batch.get("counts") or {}
    if batch.get("status") == "cancelled" or counts.get("cancelled"):
        return ExitCode.JOB_CANCELLED
    return ExitCode.JOB_FAILED if counts.get("failed") else ExitCode.OK


def finish_batch(batch: dict[str, Any], out: Output) -> ExitCode:
    if out.as_json:
        out.json(batch)
    else:
        counts = batch.get("counts") or {}
        out.note(
            f"batch {batch['id']} {batch.get('status')}: "
            + ", ".join(f"{counts.get(name, 0)} {name}" for name in ("completed", "failed", "cancelled"))
        )
    return batch_exit(batch)


def wait_batch(handle: BatchHandle, args: argparse.Namespace, out: Output, timeout: float | None) -> ExitCode:
    printer = BatchProgressPrinter(out.err, enabled=not args.quiet)
    try:
        batch = handle.wait(timeout=timeout, on_progress=printer)
    finally:
        printer.close()
    return finish_batch(batch, out)


def cmd_batch_submit(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    metadata = build_input(args.metadata, []) if args.metadata else None
    handle = client.submit_batch(
        args.kind,
        jsonl=path,
        priority=args.priority,
        timeout_seconds=args.timeout,
        metadata=metadata,
        idempotency_key=args.idempotency_key,
    )
    if not args.wait:
        if out.as_json:
            out.json(handle.last)
        else:
            out.line(handle.id)
        return ExitCode.OK
    out.note(f"submitted {handle.id} ({(handle.last or {}).get('counts', {}).get('total')} items)")
    return wait_batch(handle, args, out, args.wait_timeout)


def cmd_batch_status(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    batch = client.batch(args.id).status()
    if out.as_json:
        out.json(batch)
    else:
        out.line(f"{batch['id']}  {batch['kind']}  {render_batch_progress(batch['status'], batch['counts'])}")
    return ExitCode.OK


def cmd_batch_wait(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    return wait_batch(client.batch(args.id), args, out, args.timeout)


def cmd_batch_results(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    """JSON lines on stdout (or into -o FILE), in item order: the items finished so far."""
    lines = client.batch(args.id).results()
    if not args.output:
        for line in lines:
            out.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return ExitCode.OK
    count = 0
    with open(args.output, "w", encoding="utf-8") as sink:
        for line in lines:
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    out.note(f"{count} results written to {args.output}")
    return ExitCode.OK


def cmd_batch_cancel(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    batch = client.batch(args.id).cancel()
    if out.as_json:
        out.json(batch)
    else:
        out.note(f"batch {batch['id']}: cancel requested ({batch['status']})")
    return ExitCode.OK


def cmd_batch_rm(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    client.batch(args.id).delete()
    out.note(f"deleted batch {args.id} and its jobs")
    return ExitCode.OK


def cmd_batch_ls(client: Client, args: argparse.Namespace, out: Output) -> ExitCode:
    batches = client.batches(limit=args.limit)
    if out.as_json:
        out.json(batches)
        return ExitCode.OK
    rows = [
        {
            "id": b["id"],
            "kind": b["kind"],
            "status": b["status"],
            "total": b["counts"]["total"],
            "done": sum(b["counts"][n] for n in ("completed", "failed", "cancelled")),
            "failed": b["counts"]["failed"],
            "created": b["created_at"],
        }
        for b in batches
    ]
    out.line(
        format_table(
            rows,
            [
                ("id", "ID"),
                ("kind", "KIND"),
                ("status", "STATUS"),
                ("total", "TOTAL"),
                ("done", "DONE"),
                ("failed", "FAILED"),
                ("created", "CREATED"),
            ],
        )
    )
    return ExitCode.OK


def add_batch_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    batch = commands.add_parser(
        "batch",
        parents=[common],
        help="submit and follow batches (many inputs, one id)",
        description="Submit and follow batches: many inputs of one kind under one id.",
    )
    sub_commands = batch.add_subparsers(dest="batch_command", required=True, metavar="BATCH_COMMAND")

    def command(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        sub = sub_commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    sub = command("submit", cmd_batch_submit, "submit a JSONL file (one input per line) as one batch")
    sub.add_argument("file", help="items.jsonl: one input object per line")
    sub.add_argument("--kind", required=True, help="job kind of every item (see GET /api/v1/kinds)")
    sub.add_argument("--priority", type=int, help="0 (default) to 9 (runs first)")
    sub.add_argument("--timeout", type=int, metavar="S", help="each item's time limit in seconds")
    sub.add_argument("--metadata", help="metadata as a JSON object")
    sub.add_argument("--idempotency-key", help="resubmitting with the same key returns the same batch")
    sub.add_argument("--wait", action="store_true", help="wait for the end, with one progress bar on stderr")
    sub.add_argument("--wait-timeout", type=float, metavar="S", help="with --wait: give up after S seconds")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sub = command("status", cmd_batch_status, "show a batch's status and counts")
    sub.add_argument("id")
    sub = command("wait", cmd_batch_wait, "wait for a batch to end, with one progress bar on stderr")
    sub.add_argument("id")
    sub.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds (exit 7)")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sub = command("results", cmd_batch_results, "print the results of the items finished so far (JSON lines)")
    sub.add_argument("id")
    sub.add_argument("-o", "--output", metavar="FILE", help="write the JSON lines into FILE")
    sub = command("cancel", cmd_batch_cancel, "cancel a batch: pending items never start")
    sub.add_argument("id")
    sub = command("rm", cmd_batch_rm, "delete a batch, all its jobs and their files")
    sub.add_argument("id")
    sub = command("ls", cmd_batch_ls, "list batches, newest first")
    sub.add_argument("--limit", type=int, default=20, help="at most this many (1-100, default 20)")


EPILOG = """exit codes: 0 ok (job completed); 1 other error; 2 usage or rejected input;
3 job failed; 4 job cancelled; 5 not found; 6 server unavailable;
7 not finished (wait timed out); 8 unauthorized; 9 conflict"""


def build_parser() -> argparse.ArgumentParser:
    # Common options are accepted before or after the command (SUPPRESS keeps the top-level default).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=f"server URL (env LONGRUN_URL, default {DEFAULT_URL})")
    common.add_argument("--api-key", default=argparse.SUPPRESS, help="API key (env LONGRUN_TOKEN)")
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable JSON on stdout"
    )

    parser = argparse.ArgumentParser(prog="longrun", description="Submit and follow Longrun jobs.", epilog=EPILOG)
    parser.add_argument(
        "--url",
        default=os.environ.get("LONGRUN_URL") or DEFAULT_URL,
        help=f"server URL (env LONGRUN_URL, default {DEFAULT_URL})",
    )
    parser.add_argument("--api-key", default=os.environ.get("LONGRUN_TOKEN"), help="API key (env LONGRUN_TOKEN)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    sub = command("submit", cmd_submit, "submit a job; prints its id (or waits with --wait)")
    sub.add_argument("kind", help="job kind (see GET /api/v1/kinds)")
    sub.add_argument("--input", help="input as a JSON object, or @file.json")
    sub.add_argument(
        "-i",
        dest="inputs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one input field (value read as JSON if it parses, else text); repeatable",
    )
    sub.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="FIELD=PATH",
        help="upload a file for one of the kind's file fields; repeatable",
    )
    sub.add_argument("--priority", type=int, help="0 (default) to 9 (runs first)")
    sub.add_argument("--timeout", type=int, metavar="S", help="the job's time limit in seconds")
    sub.add_argument("--metadata", help="metadata as a JSON object")
    sub.add_argument("--idempotency-key", help="resubmitting with the same key returns the same job")
    sub.add_argument("--wait", action="store_true", help="wait for the end, with a progress bar on stderr")
    sub.add_argument("--wait-timeout", type=float, metavar="S", help="with --wait: give up after S seconds")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sub = command("status", cmd_status, "show a job's status and progress")
    sub.add_argument("id")

    sub = command("wait", cmd_wait, "wait for a job to finish, with a progress bar on stderr")
    sub.add_argument("id")
    sub.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds (exit 7)")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sub = command(
        "result",
        cmd_result,
        "print a completed job's result; -o saves its files (also those of a failed or cancelled job)",
    )
    sub.add_argument("id")
    sub.add_argument("-o", "--output", metavar="DIR", help="save the job's artifacts into DIR")

    sub = command("ls", cmd_ls, "list jobs, newest first")
    sub.add_argument("--status", choices=["pending", "running", "completed", "failed", "cancelled"])
    sub.add_argument("--kind")
    sub.add_argument("--limit", type=int, default=20, help="at most this many (1-100, default 20)")

    sub = command("cancel", cmd_cancel, "cancel a pending or running job")
    sub.add_argument("id")

    sub = command("retry", cmd_retry, "run a finished job again as a new job, or replay every job that matches")
    sub.add_argument("id", nargs="?", help="the job to retry (leave out to replay by filter)")
    sub.add_argument(
        "--status",
        action="append",
        choices=["completed", "failed", "cancelled"],
        help="replay jobs in this status (repeatable; default failed)",
    )
    sub.add_argument("--kind")
    sub.add_argument("--since", metavar="TIME", help="jobs that finished at or after TIME (ISO 8601)")
    sub.add_argument("--until", metavar="TIME", help="jobs that finished at or before TIME (ISO 8601)")
    sub.add_argument("--all", action="store_true", help="replay matching jobs whenever they finished")

    sub = command("logs", cmd_logs, "print what a job logged")
    sub.add_argument("id")

    sub = command("rm", cmd_rm, "delete a job, its result and its files")
    sub.add_argument("id")
    add_batch_commands(commands, common)
    return parser


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    out_stream, err_stream = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    out = Output(args.json, out_stream, err_stream)
    try:
        with Client(args.url, api_key=args.api_key) as client:
            return int(args.func(client, args, out))
    except UsageError as exc:
        err_stream.write(f"longrun {args.command}: error: {exc}\n")
        return ExitCode.USAGE
    except LongrunClientError as exc:
        if out.as_json:
            out.json(
                {"error": {"code": exc.code, "message": exc.message, "details": exc.details, "status": exc.status}}
            )
        err_stream.write(f"longrun {args.command}: {exc}\n")
        return int(exit_code_for(exc))
    except KeyboardInterrupt:
        err_stream.write("\ninterrupted; the job goes on (longrun cancel ID stops it)\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
