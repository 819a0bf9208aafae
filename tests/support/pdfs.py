"""Real PDFs made with fpdf2: several pages, each with a line naming it and a table."""

from fpdf import FPDF


def make_pdf(title: str, pages: int = 3, rows: list[tuple[str, ...]] | None = None, filler_lines: int = 0) -> bytes:
    """A PDF of ``pages`` pages, each with a line of text naming it and a table."""
    rows = rows or [("Register", "Address", "Reset"), ("TK_CTRL", "0x40", "0x00"), ("TK_DATA", "0x41", "0xFF")]
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"{title} - page {number} of {pages}", new_x="LMARGIN", new_y="NEXT")
        with pdf.table() as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(value)
        for line in range(filler_lines):
            pdf.multi_cell(
                0,
                5,
                f"Note {number}.{line}: pin PA{line % 8} drives LED{line % 4} via 1k resistor.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    return bytes(pdf.output())
