"""`dataset build` through its home module: real Pillow-written PNG/JPEG folders, CSV and .npy files, the NPZ read
back with numpy; preprocessing checked on known pixels, quantisation against a real int8 TFLite model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprof.dataset import (
    BuildRequest,
    Preprocessing,
    build_dataset,
    calibration_path,
    parse_classes,
    parse_scale,
)
from edgeprof.errors import ConfigError
from tests.dataset.helpers import class_folders, load, write_image
from tests.support import DIGITS


def build(src: Path, out: Path, **options: object) -> dict[str, np.ndarray]:
    prep = options.pop("prep", Preprocessing())
    build_dataset(BuildRequest(src, out, prep, **options))  # type: ignore[arg-type]
    return load(out)


def test_class_folders_give_sorted_labels_and_class_names(tmp_path: Path) -> None:
    src = class_folders(tmp_path / "img", {"square": 2, "circle": 3})
    data = build(src, tmp_path / "d.npz")
    assert set(data) == {"x", "y", "class_names"}
    assert data["class_names"].tolist() == ["circle", "square"]  # sorted: circle is 0 whatever the write order
    assert data["y"].dtype == np.int64 and data["y"].tolist() == [0, 0, 0, 1, 1]
    assert data["x"].shape == (5, 6, 5, 3) and data["x"].dtype == np.float32
    # PNG is lossless: the raw pixels come back; circle was written second, so its red values are 2, 3, 4
    assert data["x"][:, 0, 0, 0].tolist() == [2, 3, 4, 0, 1] and (data["x"][..., 2] == 200).all()


def test_whole_number_folder_names_are_the_labels(tmp_path: Path) -> None:
    src = class_folders(tmp_path / "img", {"2": 1, "10": 1, "0": 1})
    data = build(src, tmp_path / "d.npz")
    assert "class_names" not in data
    assert data["y"].tolist() == [0, 10, 2]  # folders in name order: 0, 10, 2


def test_classes_fix_the_label_order(tmp_path: Path) -> None:
    src = class_folders(tmp_path / "img", {"circle": 1, "square": 1, "triangle": 1})
    order = tmp_path / "classes.txt"
    order.write_text("triangle\ncircle\n\nsquare\n")
    assert parse_classes(str(order)) == parse_classes("triangle, circle,square") == ["triangle", "circle", "square"]
    data = build(src, tmp_path / "d.npz", classes=parse_classes(str(order)))
    assert data["class_names"].tolist() == ["triangle", "circle", "square"] and data["y"].tolist() == [1, 2, 0]
    with pytest.raises(ConfigError, match="class 'triangle' is not in --classes"):
        build(src, tmp_path / "e.npz", classes=["circle", "square"])
    with pytest.raises(ConfigError, match="'a' is named twice"):
        parse_classes("a,b,a")


def test_jpeg_folder_decodes_to_the_written_colour(tmp_path: Path) -> None:
    for name, colour in (("a", (200, 100, 50)), ("b", (10, 20, 30))):
        write_image(tmp_path / "img" / name / "one.jpg", np.full((16, 16, 3), colour))
    data = build(tmp_path / "img", tmp_path / "d.npz")
    assert data["x"].shape == (2, 16, 16, 3)
    assert np.abs(data["x"][0].mean(axis=(0, 1)) - (200, 100, 50)).max() < 3  # JPEG is lossy, by a little
    assert np.abs(data["x"][1].mean(axis=(0, 1)) - (10, 20, 30)).max() < 3


def test_resize_scale_mean_std_on_a_known_pixel(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "c" / "a.png", np.full((10, 6, 3), (200, 100, 50)))
    prep = Preprocessing(resize=(4, 3), scale=parse_scale("1/255"), mean=(0.5, 0.4, 0.3), std=(0.25, 0.2, 0.1))
    x = build(tmp_path / "img", tmp_path / "d.npz", prep=prep)["x"]
    assert x.shape == (1, 4, 3, 3)
    expected = (np.array([200, 100, 50]) / 255 - (0.5, 0.4, 0.3)) / (0.25, 0.2, 0.1)
    np.testing.assert_allclose(x[0, 2, 1], expected, atol=1e-6)
    np.testing.assert_allclose(x[0], np.broadcast_to(expected, (4, 3, 3)), atol=1e-6)


def test_center_crop_keeps_the_aspect_and_cuts_the_middle(tmp_path: Path) -> None:
    pixels = np.zeros((4, 8, 3), dtype=np.uint8)  # 4 high, 8 wide: red sides, a green 4x4 middle
    pixels[:, :2], pixels[:, 2:6], pixels[:, 6:] = (255, 0, 0), (0, 255, 0), (255, 0, 0)
    write_image(tmp_path / "img" / "c" / "a.png", pixels)
    cropped = build(tmp_path / "img", tmp_path / "crop.npz", prep=Preprocessing(resize=(4, 4), crop="center"))["x"]
    assert (cropped[0] == (0, 255, 0)).all()
    squashed = build(tmp_path / "img", tmp_path / "squash.npz", prep=Preprocessing(resize=(4, 4)))["x"]
    assert squashed[0, :, 0, 0].min() > 100  # without --crop the red sides are squeezed in


def test_nchw_bgr_and_gray(tmp_path: Path) -> None:
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 0], pixels[0, 1], pixels[0, 2] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    write_image(tmp_path / "img" / "c" / "a.png", pixels)
    nhwc = build(tmp_path / "img", tmp_path / "a.npz")["x"]
    nchw = build(tmp_path / "img", tmp_path / "b.npz", prep=Preprocessing(layout="nchw"))["x"]
    assert nchw.shape == (1, 3, 2, 3) and (nchw == nhwc.transpose(0, 3, 1, 2)).all()
    bgr = build(tmp_path / "img", tmp_path / "c.npz", prep=Preprocessing(color="bgr"))["x"]
    assert bgr[0, 0, 0].tolist() == [0, 0, 255] and (bgr == nhwc[..., ::-1]).all()
    gray = build(tmp_path / "img", tmp_path / "d.npz", prep=Preprocessing(color="gray"))["x"]
    assert gray.shape == (1, 2, 3, 1)
    assert gray[0, 0, :, 0].tolist() == [76, 150, 29]  # ITU-R 601-2 luma: 0.299 R + 0.587 G + 0.114 B


def _int8_digits_input() -> tuple[float, int]:
    """The int8-static TFLite digits model's input scale and zero point, read by the interpreter itself."""
    from ai_edge_litert.interpreter import Interpreter

    (detail,) = Interpreter(model_path=str(DIGITS / "digits-int8-static.tflite")).get_input_details()
    assert detail["dtype"] == np.int8
    scale, zero = detail["quantization"]
    return float(scale), int(zero)


def test_model_gives_size_gray_and_int8_with_its_scale_and_zero_point(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for i in range(4):
        write_image(tmp_path / "img" / str(i % 2) / f"{i}.png", rng.integers(0, 256, (8, 8, 3)))
    prep = Preprocessing(scale=1 / 255)
    quantised = build(tmp_path / "img", tmp_path / "q.npz", prep=prep, model=DIGITS / "digits-int8-static.tflite")
    floats = build(tmp_path / "img", tmp_path / "f.npz", prep=prep, model=DIGITS / "digits-fp32.onnx")
    assert quantised["x"].dtype == np.int8 and quantised["x"].shape == (4, 8, 8, 1)  # gray from the 1 channel
    assert floats["x"].dtype == np.float32 and floats["x"].shape == (4, 8, 8, 1)
    scale, zero = _int8_digits_input()
    expected = np.clip(np.round(floats["x"] / scale + zero), -128, 127)
    assert (quantised["x"] == expected).all()
    assert (quantised["x"].astype(int) == np.round(floats["x"] * 255) - 128).all()  # scale 1/255, zero -128
    kept = build(tmp_path / "img", tmp_path / "k.npz", prep=Preprocessing(scale=1 / 255, dtype="float32"),
                 model=DIGITS / "digits-int8-static.tflite")
    assert kept["x"].dtype == np.float32 and (kept["x"] == floats["x"]).all()  # --dtype overrides the model


def test_model_size_resizes_other_sizes(tmp_path: Path) -> None:
    write_image(tmp_path / "img" / "a" / "big.png", np.full((32, 20, 3), 255))
    write_image(tmp_path / "img" / "b" / "small.png", np.full((5, 5, 3), 0))
    data = build(tmp_path / "img", tmp_path / "d.npz", model=DIGITS / "digits-fp32.onnx")
    assert data["x"].shape == (2, 8, 8, 1) and data["x"][0].min() == 255 and data["x"][1].max() == 0


def test_integer_dtype_without_a_scale_needs_whole_numbers(tmp_path: Path) -> None:
    class_folders(tmp_path / "img", {"a": 2})
    raw = build(tmp_path / "img", tmp_path / "u8.npz", prep=Preprocessing(dtype="uint8"))
    assert raw["x"].dtype == np.uint8 and raw["x"][1, 0, 0].tolist() == [1, 0, 200]
    with pytest.raises(ConfigError, match="do not fit uint8"):
        build(tmp_path / "img", tmp_path / "bad.npz", prep=Preprocessing(dtype="uint8", scale=1 / 255))


def test_feature_csv_with_names_and_a_model_shape(tmp_path: Path) -> None:
    csv = tmp_path / "features.csv"
    rows = ["kind," + ",".join(f"f{i}" for i in range(64))]
    rows += [f"{name}," + ",".join(str((i + j) / 100) for i in range(64)) for j, name in enumerate(["cat", "ant"])]
    csv.write_text("\n".join(rows) + "\n")
    flat = build(csv, tmp_path / "flat.npz", label_column="kind", prep=Preprocessing(scale=2.0, mean=(0.1,)))
    assert flat["x"].shape == (2, 64) and flat["class_names"].tolist() == ["ant", "cat"]
    assert flat["y"].tolist() == [1, 0]
    np.testing.assert_allclose(flat["x"][1, 3], (0.04 * 2.0) - 0.1, rtol=1e-6)
    shaped = build(csv, tmp_path / "shaped.npz", label_column="kind", model=DIGITS / "digits-fp32.onnx")
    assert shaped["x"].shape == (2, 8, 8, 1) and shaped["x"][0, 0, 1, 0] == np.float32(0.01)


def test_feature_csv_without_a_label_column_is_unlabelled(tmp_path: Path) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    data = build(csv, tmp_path / "d.npz")
    assert set(data) == {"x"} and data["x"].tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(("text", "message"), [
    ("a,label\n1,0.5\n", "label '0.5' is not a whole number"),
    ("a,label\n1,-1\n", "label -1 is negative"),
    ("a,label\n1,2\n3, \n", "sample 2 has an empty label"),
    ("a,label\nx,1\n", "line 2, column 'a': 'x' is not a number"),
    ("a,label\n1,2,3\n", "line 2 has 3 fields, the header 2"),
    ("a,label\n", "needs a header row and at least one row"),
])
def test_bad_csv_is_one_config_error(tmp_path: Path, text: str, message: str) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text(text)
    with pytest.raises(ConfigError, match=message):
        build(csv, tmp_path / "d.npz")


def test_npy_folder_by_class_and_by_labels_csv(tmp_path: Path) -> None:
    for i, name in enumerate(["b", "a", "b"]):
        (tmp_path / "npy" / name).mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "npy" / name / f"s{i}.npy", np.full((4, 4, 3), i, dtype=np.float32))
    data = build(tmp_path / "npy", tmp_path / "d.npz", prep=Preprocessing(layout="nchw", scale=0.5))
    assert data["class_names"].tolist() == ["a", "b"] and data["y"].tolist() == [0, 1, 1]
    assert data["x"].shape == (3, 3, 4, 4) and data["x"][:, 0, 0, 0].tolist() == [0.5, 0.0, 1.0]

    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        np.save(flat / f"s{i}.npy", np.arange(5, dtype=np.int16) + i)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\ns2.npy,7\ns0.npy,3\ns1.npy,3\n")
    listed = build(flat, tmp_path / "l.npz", labels_csv=labels)
    assert listed["y"].tolist() == [7, 3, 3] and listed["x"][:, 0].tolist() == [2, 0, 1]


def test_npy_samples_of_another_shape_are_refused_not_reshaped(tmp_path: Path) -> None:
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "a.npy", np.zeros((4, 16, 1), dtype=np.float32))  # 64 values, not 8x8x1
    with pytest.raises(ConfigError, match=r"the samples are \['n', 4, 16, 1\], the model's input 'input' takes"):
        build(tmp_path / "npy", tmp_path / "d.npz", model=DIGITS / "digits-fp32.onnx")


def test_images_with_a_labels_csv(tmp_path: Path) -> None:
    for name in ("one.png", "two.png"):
        write_image(tmp_path / "img" / name, np.zeros((3, 3, 3)))
    labels = tmp_path / "labels.csv"
    labels.write_text("path,species\ntwo.png,owl\none.png,cat\n")
    data = build(tmp_path / "img", tmp_path / "d.npz", labels_csv=labels, label_column="species")
    assert data["class_names"].tolist() == ["cat", "owl"] and data["y"].tolist() == [1, 0]


def test_limit_and_split_are_stratified_seeded_and_disjoint(tmp_path: Path) -> None:
    src = class_folders(tmp_path / "img", {"a": 10, "b": 10, "c": 10})
    out = tmp_path / "d.npz"
    build(src, out, limit=15, split=0.2, seed=1)
    rest, held = load(out), load(calibration_path(out))
    assert calibration_path(out).name == "d-calibration.npz"
    assert np.bincount(rest["y"]).tolist() == [4, 4, 4] and np.bincount(held["y"]).tolist() == [1, 1, 1]
    ids = lambda data: set(data["x"][:, 0, 0, 0].astype(int).tolist())  # noqa: E731 (the red channel names a sample)
    assert not ids(rest) & ids(held) and len(ids(rest) | ids(held)) == 15
    assert held["class_names"].tolist() == ["a", "b", "c"]
    assert (rest["y"] == np.array(sorted(ids(rest))) // 10).all()  # labels stay with their samples

    again = tmp_path / "again.npz"
    build(src, again, limit=15, split=0.2, seed=1)
    assert (load(again)["x"] == rest["x"]).all() and (load(calibration_path(again))["x"] == held["x"]).all()
    other = tmp_path / "other.npz"
    build(src, other, limit=15, split=0.2, seed=2)
    assert ids(load(other)) != ids(rest)


def test_split_of_an_unlabelled_folder(tmp_path: Path) -> None:
    for i in range(5):
        write_image(tmp_path / "img" / f"{i}.png", np.full((2, 2, 3), i))
    out = tmp_path / "d.npz"
    build(tmp_path / "img", out, split=0.4)
    assert len(load(out)["x"]) == 3 and len(load(calibration_path(out))["x"]) == 2 and "y" not in load(out)
