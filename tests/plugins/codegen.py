"""Fixtures for the codegen kind: real PDFs (tests/support/pdfs.py) as the tests upload them."""

import pytest

from tests.support.pdfs import make_pdf


@pytest.fixture(scope="session")
def datasheet_pdf() -> bytes:
    return make_pdf(
        "BF7615CMXX touch MCU datasheet",
        pages=4,
        rows=[
            ("Register", "Address", "Reset"),
            ("TK_CTRL", "0x40", "0x00"),
            ("TK_DATA", "0x41", "0xFF"),
            ("TK_IRQ", "0x42", "0x01"),
        ],
    )


@pytest.fixture(scope="session")
def schematic_pdf() -> bytes:
    return make_pdf(
        "Schematic prints: touch keypad",
        pages=2,
        rows=[("Net", "MCU pin", "Part"), ("KEY1", "PA0", "pad 10mm"), ("LED1", "PB3", "LED red")],
    )
