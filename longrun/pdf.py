"""PDF uploads: check that bytes are a PDF, and pull out their text.

The API checks an upload before it is stored (so a bad file is a 4xx, not a
failed job); the worker extracts the text and cuts it to a character budget
so that the prompt fits the model's context.
"""

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from longrun.errors import NotAPdf

PDF_MAGIC = b"%PDF-"
# The header may follow a little junk (PDF 1.7, 7.5.2): readers look in the first KiB.
MAGIC_WINDOW = 1024

# pypdf logs recoverable oddities of real-world files at WARNING; they are not ours.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass
class PdfText:
    text: str
    pages: int
    chars: int  # before cutting
    truncated: bool


def check_pdf(data: bytes) -> None:
    """Raise NotAPdf unless ``data`` starts like a PDF and pypdf can open it."""
    if PDF_MAGIC not in data[:MAGIC_WINDOW]:
        raise NotAPdf("not a PDF (no %PDF- header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise NotAPdf("the PDF is encrypted")
        if len(reader.pages) == 0:
            raise NotAPdf("the PDF has no pages")
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        if isinstance(exc, NotAPdf):
            raise
        raise NotAPdf(f"not a readable PDF: {exc}") from None


def extract_text(path: str | Path, max_chars: int, on_page: Callable[[int, int], None] | None = None) -> PdfText:
    """The text of every page, marked by page number, cut to ``max_chars``.

    ``on_page(page, pages)`` is called before each page (progress and cancel checks).
    """
    with open(path, "rb") as handle:
        try:
            reader = PdfReader(handle)
            pages = len(reader.pages)
            parts = []
            for number, page in enumerate(reader.pages, start=1):
                if on_page:
                    on_page(number, pages)
                parts.append(f"--- page {number} ---\n{(page.extract_text() or '').strip()}")
        except (PdfReadError, PyPdfError) as exc:
            raise NotAPdf(f"{Path(path).name}: not a readable PDF: {exc}") from None
    text = "\n".join(parts)
    return PdfText(text=cut(text, max_chars), pages=pages, chars=len(text), truncated=len(text) > max_chars)


def cut(text: str, max_chars: int) -> str:
    """``text`` if it fits, else its start with a note saying how much was left out."""
    if len(text) <= max_chars:
        return text
    kept = max(0, max_chars - 64)  # room for the note
    return text[:kept] + f"\n[... cut: {len(text) - kept} more characters not shown]"
