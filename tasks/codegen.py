"""``codegen`` (seed 002): code from a datasheet PDF, a schematic PDF and an instruction.

Three steps, each reported: "parse datasheet", "parse schematic", "generate
code". The PDFs arrive as the job's artifacts (the API stores the uploads
before it publishes the job; only their names travel through Redis). Their
text is extracted with pypdf and cut so that the prompt fits the model's
context; the model's answer is saved as a downloadable artifact
(``generated.<ext>``) and returned with metadata.
"""

import re
import time
from dataclasses import asdict

from backends.llm import LLMClient
from longrun.errors import CodegenFailed
from longrun.job import Job
from longrun.pdf import extract_text
from longrun.settings import get_settings
from tasks.registry import KINDS

STEPS = KINDS["codegen"].steps
# Of the prompt's character budget, the datasheet (registers, timings) gets this share.
DATASHEET_SHARE = 0.6

EXTENSIONS = {
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "python": "py",
    "rust": "rs",
    "go": "go",
    "javascript": "js",
    "typescript": "ts",
    "java": "java",
    "arduino": "ino",
    "verilog": "v",
    "vhdl": "vhd",
    "asm": "s",
    "assembly": "s",
}

FENCED = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)


def artifact_name(language: str) -> str:
    return f"generated.{EXTENSIONS.get(language.strip().lower(), 'txt')}"


def code_from_answer(answer: str) -> str:
    """The code in a model's answer: its fenced blocks if it has any, else all of it."""
    blocks = [b.strip("\n") for b in FENCED.findall(answer) if b.strip()]
    return ("\n\n".join(blocks) if blocks else answer).strip() + "\n"


def build_messages(instruction: str, language: str, datasheet: str, schematic: str) -> list[dict]:
    system = (
        f"You are an embedded software engineer. Write {language} code that does what the "
        f"instruction asks, for the hardware the datasheet and schematic describe. "
        f"Answer with the code in one fenced code block."
    )
    user = (
        f"Instruction: {instruction}\n\n"
        f"Datasheet (extracted text):\n{datasheet}\n\n"
        f"Schematic (extracted text):\n{schematic}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_step(job: Job, name: str, file_name: str, budget: int) -> dict:
    """Extract one uploaded PDF's text, reporting per page (the step's checkpointed output)."""
    job.log.info("parsing the %s (%s)", name, file_name)

    def on_page(page: int, pages: int):
        job.progress.report(message=f"{name}: page {page} of {pages}")

    path = job.artifacts.open(job.id, file_name)
    return asdict(extract_text(path, budget, on_page=on_page))


def ask_model(job: Job, client: LLMClient | None, messages: list[dict], model, temperature, max_tokens) -> dict:
    """The model's answer (the step's checkpointed output)."""
    if client is None:
        client = LLMClient.from_settings()
    tokens = 0

    def on_token(_piece: str):
        nonlocal tokens
        tokens += 1
        job.progress.report(message=f"generating: {tokens} tokens")  # also a cancel check

    answer = client.chat(messages, model=model, temperature=temperature, max_tokens=max_tokens, on_token=on_token)
    return {"content": answer.content, "model": answer.model, "usage": answer.usage}


def generate(
    job: Job,
    *,
    instruction: str,
    language: str,
    datasheet: str,
    schematic: str,
    model=None,
    temperature=None,
    max_tokens=None,
    client=None,
) -> dict:
    """The three steps, each a checkpoint (a resumed job does not parse again);
    ``client`` is an LLMClient (from the settings when None)."""
    started = time.monotonic()
    budget = max(200, get_settings().codegen_prompt_chars - len(instruction))
    job.plan(list(STEPS))
    sheet = job.step(
        STEPS[0], parse_step, job, "datasheet", datasheet, int(budget * DATASHEET_SHARE), message="reading datasheet"
    )
    # The schematic may use what the datasheet left of its share.
    left = budget - len(sheet["text"])
    schem = job.step(STEPS[1], parse_step, job, "schematic", schematic, max(100, left), message="reading schematic")
    messages = build_messages(instruction, language, sheet["text"], schem["text"])
    answer = job.step(
        STEPS[2], ask_model, job, client, messages, model, temperature, max_tokens, message="waiting for the model"
    )
    code = code_from_answer(answer["content"])
    if not code.strip():
        raise CodegenFailed("the model answered without any code")
    name = artifact_name(language)
    job.save_artifact(name, code)
    job.progress.report(message=f"saved {name}", force=True)
    return {
        "generated_code": code,
        "language": language,
        "metadata": {
            "artifact": name,
            "model": answer["model"],
            "usage": answer["usage"],
            "instruction": instruction,
            "datasheet": {
                "file": datasheet,
                "pages": sheet["pages"],
                "chars": sheet["chars"],
                "truncated": sheet["truncated"],
            },
            "schematic": {
                "file": schematic,
                "pages": schem["pages"],
                "chars": schem["chars"],
                "truncated": schem["truncated"],
            },
            "processing_seconds": round(time.monotonic() - started, 3),
        },
    }


def codegen(job: Job, **params) -> dict:
    return generate(job, **params)
