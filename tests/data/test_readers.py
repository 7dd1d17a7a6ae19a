"""Readers: tables in every format give the same Spectra; instrument files with targets."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectune.data import from_numpy, from_pandas, read_spectra, read_table
from spectune.exceptions import DataError

WAVELENGTHS = [1000.0, 1002.0, 1004.0, 1006.0]


@pytest.fixture
def frame() -> pd.DataFrame:
    """Spectral columns not contiguous: a target sits between them, as users' files do."""
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(6, 4))
    frame = pd.DataFrame({"sample": [f"00{i}" for i in range(6)], "fat": rng.uniform(1, 9, 6)})
    for k, wl in enumerate(WAVELENGTHS[:2]):
        frame[str(wl)] = X[:, k]
    frame["batch"] = ["b1", "b1", "b2", "b2", "b3", "b3"]
    frame["water"] = rng.uniform(10, 20, 6)
    for k, wl in enumerate(WAVELENGTHS[2:], start=2):
        frame[str(wl)] = X[:, k]
    return frame


def spectral(frame: pd.DataFrame) -> np.ndarray:
    return frame[[str(wl) for wl in WAVELENGTHS]].to_numpy()


def test_csv_columns_split_by_header(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "fat.csv"
    frame.to_csv(path, index=False)
    spectra = read_table(path, target="fat", id_column="sample", group_column="batch")
    np.testing.assert_array_equal(spectra.wavelengths, WAVELENGTHS)
    np.testing.assert_array_equal(spectra.X[:, 0], spectral(frame).astype(np.float32))
    np.testing.assert_array_equal(spectra.y[:, 0], frame["fat"])
    assert list(spectra.ids) == list(frame["sample"])  # text ids keep their leading zeros
    assert list(spectra.groups) == list(frame["batch"])
    assert spectra.task == "regression" and spectra.target_names == ("fat",)
    assert spectra.source == str(path)


def write_as(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="," if suffix == ".csv" else "\t")


@pytest.mark.parametrize("name", ["t.tsv", "t.tab", "t.txt", "t.parquet", "t.xlsx"])
def test_formats_round_trip_like_csv(tmp_path: Path, frame: pd.DataFrame, name: str) -> None:
    write_as(frame, tmp_path / name)
    got = read_table(tmp_path / name, target=["fat", "water"], id_column="sample")
    want = from_pandas(frame, target=["fat", "water"], id_column="sample")
    np.testing.assert_array_equal(got.X, want.X)
    np.testing.assert_allclose(got.y, want.y, rtol=1e-14)  # Excel keeps 15 significant digits
    np.testing.assert_array_equal(got.wavelengths, want.wavelengths)
    assert list(got.ids) == list(want.ids)
    assert got.y.shape == (6, 2) and got.target_names == ("fat", "water")


def test_excel_sheet_by_name(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame.head(2).to_excel(writer, sheet_name="notes", index=False)
        frame.to_excel(writer, sheet_name="spectra", index=False)
    assert read_table(path, sheet="spectra").n_samples == 6
    with pytest.raises(DataError, match=r"book\.xlsx: cannot read sheet 'nope'"):
        read_table(path, sheet="nope")


def test_without_target_is_prediction_data(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    spectra = read_table(path)
    assert spectra.y is None and spectra.target_names == ()


def test_text_labels_mean_classification(frame: pd.DataFrame) -> None:
    spectra = from_pandas(frame, target="batch")
    assert spectra.task == "classification"
    np.testing.assert_array_equal(spectra.classes, ["b1", "b2", "b3"])


def test_numeric_labels_can_be_classes(frame: pd.DataFrame) -> None:
    frame["grade"] = [1, 2, 1, 2, 1, 2]
    assert from_pandas(frame, target="grade").task == "regression"
    spectra = from_pandas(frame, target="grade", task="classification")
    np.testing.assert_array_equal(spectra.classes, [1, 2])


def test_from_numpy_defaults_and_checks() -> None:
    X = np.arange(12, dtype=float).reshape(3, 4)
    spectra = from_numpy(X, np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(spectra.wavelengths, np.arange(4))
    assert spectra.target_names == ("y0",)
    three = from_numpy(np.stack([X, X], axis=1), np.ones((3, 2)) * [[1], [2], [3]], [5, 6, 7, 8],
                       target_names=["a", "b"])
    assert three.X.shape == (3, 2, 4) and three.y.shape == (3, 2)
    X[1, 2] = np.nan
    with pytest.raises(DataError, match=r"<array>: row 2, point 3: spectra hold 1 NaN"):
        from_numpy(X)
    with pytest.raises(DataError, match=r"constant cannot be learned"):
        from_numpy(np.ones((3, 4)), np.ones(3))


# --- instrument files -------------------------------------------------------------------------

def write_jcamp(path: Path, x0: float, y: np.ndarray, factor: float = 0.001) -> np.ndarray:
    """A JCAMP-DX 4.24 file written by hand (X++(Y..Y)); returns the values it encodes."""
    ints = np.rint(np.asarray(y) / factor).astype(int)
    head = [
        "##TITLE=test", "##JCAMP-DX=4.24", "##DATA TYPE=INFRARED SPECTRUM", "##XUNITS=1/CM",
        "##YUNITS=ABSORBANCE", f"##FIRSTX={x0:g}", f"##LASTX={x0 + len(y) - 1:g}", "##DELTAX=1",
        "##XFACTOR=1", f"##YFACTOR={factor:g}", f"##NPOINTS={len(y)}", "##XYDATA=(X++(Y..Y))",
    ]
    body = [f"{x0 + k:g} " + " ".join(map(str, ints[k:k + 5])) for k in range(0, len(y), 5)]
    path.write_text("\n".join([*head, *body, "##END="]) + "\n")
    return ints * factor


def jcamp_folder(tmp_path: Path, n: int = 4, points: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {
        f"s{i}": write_jcamp(tmp_path / f"s{i}.jdx", 1000, rng.uniform(0, 2, points))
        for i in range(n)
    }


def test_jcamp_round_trip(tmp_path: Path) -> None:
    written = jcamp_folder(tmp_path)
    spectra = read_spectra(tmp_path)
    np.testing.assert_allclose(spectra.X[:, 0], np.stack(list(written.values())), rtol=1e-6)
    np.testing.assert_array_equal(spectra.wavelengths, np.arange(1000, 1012))
    assert list(spectra.ids) == list(written) and spectra.y is None


def test_targets_table_keyed_by_stem(tmp_path: Path) -> None:
    jcamp_folder(tmp_path)
    table = tmp_path / "targets.csv"
    table.write_text("id,fat,site\ns3,4.5,x\ns1,2.5,y\ns0,1.5,x\ns2,3.5,y\nextra,9,z\n")
    files = [tmp_path / f"s{i}.jdx" for i in (2, 0, 1)]
    spectra = read_spectra(files, targets_table=table, target="fat", group_column="site")
    np.testing.assert_array_equal(spectra.y[:, 0], [3.5, 1.5, 2.5])
    assert list(spectra.groups) == ["y", "x", "y"]
    del_row = tmp_path / "partial.csv"
    del_row.write_text("id,fat\ns0,1\ns1,2\n")
    with pytest.raises(DataError, match=r"s2\.jdx: no row for sample id 's2' .*column 'id' of"):
        read_spectra(files, targets_table=del_row, target="fat")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,fat\ns0,1\ns1,\ns2,3\n")
    with pytest.raises(DataError, match=r"bad\.csv: row 2 \(line 3 of the file\), column 'fat'"):
        read_spectra(files, targets_table=bad, target="fat")


def test_grid_mismatch_between_files(tmp_path: Path) -> None:
    jcamp_folder(tmp_path, n=2, points=12)
    other = write_jcamp(tmp_path / "z.jdx", 995, np.linspace(0, 1, 30))
    with pytest.raises(DataError, match=r"z\.jdx: 30 points 995-1024, but s0\.jdx has 12 points "
                                        r"1000-1011; .*pass resample=True"):
        read_spectra(tmp_path)
    spectra = read_spectra(tmp_path, resample=True)
    expected = np.interp(np.arange(1000, 1012), np.arange(995, 1025), other)
    np.testing.assert_allclose(spectra.X[2, 0], expected, rtol=1e-6)


def write_spc(path: Path, y: np.ndarray, first: float, last: float) -> None:
    """A minimal new-format (0x4B) SPC file: even x grid, one float32 subfile."""
    head = struct.pack(
        "<cccciddicccci9s9sh32s130s30siicchf48sfifc187s", b"\x00", b"\x4b", b"\x00", b"\x80",
        len(y), first, last, 1, b"\x01", b"\x00", b"\x00", b"\x00", 0, b"", b"", 0, b"", b"",
        b"", 0, 0, b"\x00", b"\x00", 0, 1.0, b"", 0.0, 0, 0.0, b"\x00", b"",
    )
    sub = struct.pack("<cchfffiif4s", b"\x00", b"\x80", 0, 0.0, 0.0, 0.0, 0, 0, 0.0, b"")
    path.write_bytes(head + sub + struct.pack(f"<{len(y)}f", *y))


def test_spc_file(tmp_path: Path) -> None:
    y = np.array([0.1, 0.2, 0.3, 0.4, 0.5], dtype=np.float32)
    write_spc(tmp_path / "a.spc", y, 1000.0, 1004.0)
    write_spc(tmp_path / "b.spc", y[::-1], 1000.0, 1004.0)
    spectra = read_spectra(tmp_path)
    np.testing.assert_array_equal(spectra.X[:, 0], np.stack([y, y[::-1]]))
    np.testing.assert_array_equal(spectra.wavelengths, np.linspace(1000, 1004, 5))


def test_spc_without_package_names_the_install(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_spc(tmp_path / "a.spc", np.ones(3, dtype=np.float32), 1.0, 3.0)
    monkeypatch.setitem(sys.modules, "spc_spectra", None)
    monkeypatch.setitem(sys.modules, "spc", None)
    with pytest.raises(DataError, match=r"a\.spc: .*pip install --no-build-isolation spc-spectra"):
        read_spectra(tmp_path / "a.spc")


def test_instrument_file_errors(tmp_path: Path) -> None:
    (tmp_path / "x.0").write_bytes(b"not an opus file")
    with pytest.raises(DataError, match=r"x\.0: not a Bruker OPUS file"):
        read_spectra(tmp_path / "x.0")
    (tmp_path / "x.jdx").write_text("##TITLE=empty\n##END=\n")
    with pytest.raises(DataError, match=r"x\.jdx: no spectrum \(##XYDATA or ##XYPOINTS\) found"):
        read_spectra([tmp_path / "x.jdx"])
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"t\.csv: a table among spectrum files"):
        read_spectra([tmp_path / "t.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: a folder with no JCAMP-DX .*or a table file"):
        read_spectra(tmp_path / "empty")


def test_ids_must_be_unique(tmp_path: Path) -> None:
    jcamp_folder(tmp_path, n=2)
    write_jcamp(tmp_path / "s0.dx", 1000, np.ones(12))
    with pytest.raises(DataError, match=r"s0\.jdx: same sample id 's0' \(file stem\) as .*s0\.dx"):
        read_spectra(sorted(tmp_path.iterdir()))
    table = pd.DataFrame({"sample": ["s0", "s1", "s1"], "fat": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"<targets DataFrame>: row 3: sample id 's1' repeats"):
        read_spectra([tmp_path / "s0.jdx", tmp_path / "s1.jdx"], targets_table=table, target="fat")
    with pytest.raises(DataError, match=r"s0\.jdx: instrument files hold no targets .*--targets"):
        read_spectra(tmp_path / "s0.jdx", target="fat")
