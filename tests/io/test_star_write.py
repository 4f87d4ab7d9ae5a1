"""Values that need STAR quoting survive a round trip through our reader, starfile and RELION;
values that no quoting can carry are refused with one line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import starfile

from gan_viewer.cli import main
from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable, read_star, table_from_dataframe, write_star
from gan_viewer.io.star_parse import count_fields

#: values a STAR writer must quote (or may write bare only with care), each with a column after it
TRICKY = ["data_evil", "DATA_x", "data_", "save_x", "loop_", "LOOP_", "global_", "stop_", "_rlnFake", "#x", "a#b",
          "$x", ";x", "", "a b", " lead", "trail ", 'a"b', 'ab"', 'a""b', "C:\\dir\\", "a\\ b", "ünï cödé",
          "plain", "loop", "data"]
REFUSED = [("it's", "single quote"), ("'quoted'", "single quote"), ('"x', "double quote"),
           ('say "hi"', "double quote"), ("two\nlines", "control character"), ("cr\r", "control character"),
           ("a\tb", "tab")]
STRINGS = ["rlnMicrographName", "rlnCustomName"]


def table_with(value: str) -> ParticleTable:
    """A RELION 3.1 table whose first particle holds ``value`` in its first and in its last column."""
    parts = pd.DataFrame({"rlnMicrographName": [value, "m2.mrc"], "rlnImageName": ["000001@a.mrcs", "000002@a.mrcs"],
                          "rlnOpticsGroup": [1, 1], "rlnAngleRot": [10.0, 20.0], "rlnCustomName": [value, "z"]})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnAmplitudeContrast": [0.1],
                           "rlnSphericalAberration": [2.7], "rlnVoltage": [300.0], "rlnImagePixelSize": [2.0],
                           "rlnImageSize": [16], "rlnImageDimensionality": [2]})
    return table_from_dataframe(parts, optics)


def star11_tokens(line: str) -> list[str]:
    """A row split by the STAR 1.1 rules RELION follows: a quote ends a quoted value only before whitespace."""
    tokens, i = [], 0
    while i < len(line):
        if line[i].isspace():
            i += 1
        elif line[i] in "'\"":
            end = i + 1
            while not (line[end] == line[i] and (end + 1 == len(line) or line[end + 1].isspace())):
                end += 1
            tokens.append(line[i + 1:end])
            i = end + 1
        else:
            end = i
            while end < len(line) and not line[end].isspace():
                end += 1
            tokens.append(line[i:end])
            i = end
    return tokens


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_tricky_values_round_trip(tmp_path: Path, monkeypatch, value: str) -> None:
    import gan_viewer.io.star_parse as star_parse

    out = write_star(table_with(value), tmp_path / "t.star")
    for fast in (False, True):  # starfile's path, and the one taken for files over 16 MB
        if fast:
            monkeypatch.setattr(star_parse, "FAST_PARSE_BYTES", 0)
        table = read_star(out)
        assert len(table) == 2 and table.optics_block == "optics"
        assert table.particles.loc[0, STRINGS].tolist() == [value, value]
        assert table.particles["rlnAngleRot"].tolist() == [10.0, 20.0]
    theirs = starfile.read(out, always_dict=True, parse_as_string=STRINGS)["particles"]
    assert theirs.loc[0, STRINGS].tolist() == [value, value] and len(theirs) == 2


@pytest.mark.parametrize("value, reason", REFUSED, ids=repr)
def test_values_no_quoting_carries_are_refused(tmp_path: Path, value: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        write_star(table_with(value), tmp_path / "t.star")
    message = str(info.value)
    assert "\n" not in message and "t.star" in message and "rlnMicrographName" in message and "row 1" in message
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("value", ["data_evil", "a b", "it's", 'a"b', "C:\\d\\", "", "#x", "_x"], ids=repr)
def test_simple_block_values_round_trip(tmp_path: Path, value: str) -> None:
    table = ParticleTable({"general": {"rlnFoo": value, "rlnBar": 3},
                           "particles": pd.DataFrame({"rlnImageName": ["000001@a.mrcs"]})}, "particles")
    out = write_star(table, tmp_path / "s.star")
    assert read_star(out).blocks["general"] == {"rlnFoo": value, "rlnBar": 3}
    assert starfile.read(out, always_dict=True, parse_as_string=["rlnFoo"])["general"]["rlnFoo"] == value


def test_labels_must_be_words(tmp_path: Path) -> None:
    table = table_from_dataframe(pd.DataFrame({"rlnImageName": ["1@a.mrcs"], "bad label": [1]}))
    with pytest.raises(InputError, match="'bad label', which is not one word"):
        write_star(table, tmp_path / "t.star")


@pytest.mark.parametrize("row, count", [
    ('1 "a b" 2', 3), ("1 'a b' 2", 3), ('1 a"b 2', 3), ("C:\\dir\\\t2", 2), ("1 2 # comment", 2),
    ("1 a#b 2", 2), ('1 "a#b" 2', 3), ('1 "a""b" 2', 3), ('"" 1', 2),
])
def test_count_fields_as_the_parser_splits(row: str, count: int) -> None:
    assert count_fields(row) == count


def test_export_keeps_quoted_values(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.star"
    src.write_text("data_\nloop_\n_rlnMicrographName #1\n_rlnImageName #2\n_rlnAngleRot #3\n"
                   "'data_evil' 1@a.mrcs 1.0\n\"loop_\" 2@a.mrcs 2.0\n\"_rlnFake\" 3@a.mrcs 3.0\n\"a b\" 4@a.mrcs 4.0\n")
    assert main(["export", str(src), "--keep", "1-4", "--out", str(tmp_path / "k.star")]) == 0
    kept = read_star(tmp_path / "k.star")
    assert kept.particles["rlnMicrographName"].tolist() == ["data_evil", "loop_", "_rlnFake", "a b"]
    assert kept.particles["rlnAngleRot"].tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.skipif(shutil.which("relion_star_handler") is None, reason="RELION is not installed")
def test_relion_reads_what_we_write(tmp_path: Path) -> None:
    table = table_with(TRICKY[0])
    parts = pd.concat([table_with(v).particles.iloc[:1] for v in TRICKY], ignore_index=True)
    parts["rlnAngleRot"] = range(len(TRICKY))
    table.blocks["particles"] = parts
    out = write_star(table, tmp_path / "t.star")
    relion_out = tmp_path / "relion.star"
    subprocess.run(["relion_star_handler", "--i", str(out), "--o", str(relion_out), "--select", "rlnAngleRot",
                    "--minval", "-1", "--maxval", "1000"], check=True, capture_output=True)
    rows = [star11_tokens(line) for line in relion_out.read_text().splitlines() if "@a.mrcs" in line]
    assert len(rows) == len(TRICKY)
    for value, row in zip(TRICKY, rows):
        assert (row[0], row[-1]) == (value, value)
