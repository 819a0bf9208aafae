"""longrun.pdf: what counts as a PDF, and text extraction cut to a budget."""

import pytest

from longrun.pdf import NotAPdf, check_pdf, cut, extract_text
from tests.support.pdfs import make_pdf


def test_a_generated_pdf_passes_the_check(datasheet_pdf):
    check_pdf(datasheet_pdf)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"hello, I am plain text" * 10, "no %PDF- header"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "no %PDF- header"),
        (b"%PDF-1.7\nthis is not really a pdf\n%%EOF\n", "not a readable PDF"),
    ],
)
def test_bytes_that_are_not_a_readable_pdf_are_refused(data, reason):
    with pytest.raises(NotAPdf, match=reason):
        check_pdf(data)


def test_text_of_every_page_and_its_tables_is_extracted(tmp_path, datasheet_pdf):
    path = tmp_path / "d.pdf"
    path.write_bytes(datasheet_pdf)
    seen = []
    text = extract_text(path, 100_000, on_page=lambda page, pages: seen.append((page, pages)))
    assert text.pages == 4 and seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert "--- page 4 ---" in text.text and "page 4 of 4" in text.text
    assert "TK_IRQ" in text.text and "0x42" in text.text  # table cells
    assert not text.truncated and text.chars == len(text.text)


def test_long_text_is_cut_to_the_budget_with_a_note(tmp_path):
    path = tmp_path / "long.pdf"
    path.write_bytes(make_pdf("long", pages=5, filler_lines=30))
    text = extract_text(path, 1500)
    assert text.truncated and text.chars > 1500
    assert len(text.text) <= 1500
    assert text.text.startswith("--- page 1 ---") and "more characters not shown]" in text.text


def test_cut_keeps_short_text_whole():
    assert cut("short", 100) == "short"
    assert len(cut("x" * 1000, 200)) <= 200
