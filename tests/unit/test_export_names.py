"""Names in exports, case by case: zip entries, download file names and CSV cells."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fabflow.exports.archive import EntryNames, safe_entry, segment
from fabflow.exports.csvfile import cell
from fabflow.exports.downloads import filename, served_type


@pytest.mark.parametrize(
    ("parts", "entry"),
    [
        (("C:\\Windows\\evil.html",), "Windows/evil.html"),
        (("c:/Windows/evil.html",), "Windows/evil.html"),
        (("C:evil.html",), "evil.html"),
        (("files", "D:\\x\\y.stl"), "files/x/y.stl"),
        (("\\\\server\\share\\x.stl",), "server/share/x.stl"),
        (("\\\\?\\C:\\x.stl",), "_/x.stl"),
        (("../../etc/passwd",), "etc/passwd"),
        (("..\\..\\boot.ini",), "boot.ini"),
        (("/abs/x.txt",), "abs/x.txt"),
        (("a/./b/../c.txt",), "a/b/c.txt"),
        (("bad\x00\x07\x1b\x7fname.txt",), "badname.txt"),
        (("evil\u202egpj.exe",), "evilgpj.exe"),
        (("zero\u200bwidth.txt",), "zerowidth.txt"),
        (("x.txt:stream",), "x.txt_stream"),
        (('a<b>c"d|e?f*.txt',), "a_b_c_d_e_f_.txt"),
        (("nul",), "_nul"),
        (("CON.txt",), "_CON.txt"),
        (("com1.stl",), "_com1.stl"),
        (("console.txt",), "console.txt"),
        (("name. . ",), "name"),
        ((" spaced ",), "spaced"),
        (("..",), "file"),
        (("",), "file"),
        (("folder/..",), "folder/file"),
        ((".env",), ".env"),
        (("a" * 200 + ".stl",), "a" * 116 + ".stl"),
        (("Ring", "band.stl"), "Ring/band.stl"),
    ],
)
def test_safe_entry(parts: tuple[str, ...], entry: str) -> None:
    assert safe_entry(*parts) == entry


@pytest.mark.parametrize(
    ("label", "folder"),
    [("a/b", "a_b"), ("C:\\evil", "_evil"), ("..", "_"), ("Ring (1a2b3c4d)", "Ring (1a2b3c4d)")],
)
def test_a_label_is_one_folder(label: str, folder: str) -> None:
    assert segment(label) == folder


def test_entry_names_are_unique_without_case_and_files_and_folders_never_clash() -> None:
    names = EntryNames()
    claimed = [
        names.claim(n)
        for n in ["a.stl", "a.stl", "A.STL", "x/.env", "x/.env", "Ring", "ring/b.stl", "x"]
    ]
    assert claimed == [
        "a.stl",
        "a (2).stl",
        "A (3).STL",
        "x/.env",
        "x/.env (2)",
        "Ring",
        "ring (2)/b.stl",  # a folder cannot share the file Ring's name
        "x (2)",  # a file cannot share the folder x's name
    ]


@pytest.mark.parametrize(
    ("name", "suffix", "saved"),
    [
        ("a\"; filename*=UTF-8''x.html", "-files.zip", "a__ filename__UTF-8''x.html-files.zip"),
        ("a\\b/c:d", ".zip", "a_b_c_d.zip"),
        ("50% =?utf-8?q?x?=", ".csv", "50_ __utf-8_q_x__.csv"),
        ("line\r\nbreak", ".zip", "linebreak.zip"),
        ("Müller & Söhne", ".zip", "Müller & Söhne.zip"),
        ("...", ".zip", "download.zip"),
        ("x" * 300, ".zip", "x" * 146 + ".zip"),
    ],
)  # fmt: skip
def test_download_file_names(name: str, suffix: str, saved: str) -> None:
    assert filename(name, suffix) == saved


@pytest.mark.parametrize(
    ("content_type", "served"),
    [
        ("image/png", "image/png"),
        ("Image/JPEG; charset=binary", "image/jpeg"),
        ("image/jpg", "image/jpeg"),
        ("image/gif", "image/gif"),
        ("image/webp", "image/webp"),
        ("image/svg+xml", None),
        ("image/bmp", None),
        ("text/html", None),
        ("", None),
    ],
)
def test_only_safe_images_are_shown_inline(content_type: str, served: str | None) -> None:
    assert served_type(content_type) == served


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\n=1", "'\n=1"),
        ("-5", "-5"),
        ("+5", "+5"),
        ("-1.5", "-1.5"),
        ("-.5", "-.5"),
        ("-2e-3", "-2e-3"),
        ("-5 ", "'-5 "),
        ("-\u0665", "'-\u0665"),  # an Arabic-Indic five: not an ASCII number
        ("a=1", "a=1"),
        (-5, "-5"),
        (-2.5, "-2.5"),
        (Decimal("-3.10"), "-3.10"),
        (True, "True"),
        (None, ""),
    ],
)
def test_csv_cells(value: Any, text: str) -> None:
    assert cell(value) == text
