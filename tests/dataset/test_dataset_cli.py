"""`edgeprof dataset build|show` as a user runs them: one error line and exit 2 for bad input, nothing written;
`show` on real files; and a dataset built from an image folder that `deploy --dataset` scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.dataset.helpers import class_folders, edgeprof, load, one_error_line, write_image
from tests.support import DIGITS, REPO

MOBILENET = REPO / "models" / "mobilenetv2"
FAST = ["--min-runs", "20", "--max-runs", "100", "--min-seconds", "0.2", "--max-seconds", "0.5",
        "--power-seconds", "0.2"]


def _ragged(root: Path) -> Path:
    write_image(root / "a" / "small.png", np.zeros((4, 4, 3)))
    write_image(root / "b" / "wide.png", np.zeros((4, 9, 3)))
    return root


def _undecodable(root: Path) -> Path:
    class_folders(root, {"a": 1})
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def _empty(root: Path) -> Path:
    (root / "notes").mkdir(parents=True)
    (root / "README.txt").write_text("no images here")
    return root


@pytest.mark.parametrize(("make", "args", "message"), [
    (lambda root: root / "missing", [], "does not exist"),
    (_empty, [], "class folder"),
    (lambda root: _empty(root) / "notes", [], "holds no images or .npy files"),
    (_undecodable, [], "broken.jpg cannot be decoded"),
    (_ragged, [], "samples differ in shape: "),
    (lambda root: class_folders(root, {"a": 1}), ["--color", "purple"], "--color 'purple' is not one of rgb, bgr"),
    (lambda root: class_folders(root, {"a": 1}), ["--layout", "hwc"], "--layout 'hwc' is not one of nhwc, nchw"),
    (lambda root: class_folders(root, {"a": 1}), ["--scale", "1/0"], "--scale '1/0' is not a non-zero number"),
    (lambda root: class_folders(root, {"a": 1}), ["--resize", "96"], "--resize '96' is not HEIGHTxWIDTH"),
    (lambda root: class_folders(root, {"a": 1}), ["--mean", "0.5,0.5"], "--mean has 2 values, the samples have 3"),
    (lambda root: class_folders(root, {"a": 1}), ["--crop", "center"], "--crop center needs the size"),
    (lambda root: class_folders(root, {"a": 1}), ["--split", "1.5"], "--split 1.5 must be a fraction"),
    (lambda root: class_folders(root, {"a": 1}), ["--classes", "b,c"], "class 'a' is not in --classes (b, c)"),
    (lambda root: class_folders(root, {"a": 1}), ["--model", DIGITS / "nope.onnx"], "does not exist"),
    (lambda root: class_folders(root, {"a": 1}), ["--color", "rgb", "--model", DIGITS / "digits-fp32.onnx"],
     "the model's input 'input' takes ['?', 8, 8, 1]"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, make, args: list[str], message: str) -> None:
    out = tmp_path / "out" / "d.npz"
    proc = edgeprof("dataset", "build", make(tmp_path / "src"), "--out", out, *args)
    assert message in one_error_line(proc)
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_ragged_sizes_name_both_files_and_ask_for_resize(tmp_path: Path) -> None:
    line = one_error_line(edgeprof("dataset", "build", _ragged(tmp_path / "src"), "--out", tmp_path / "d.npz"))
    assert "small.png is 4x4 (height x width)" in line and "wide.png is 4x9" in line and "--resize HxW" in line
    fixed = edgeprof("dataset", "build", tmp_path / "src", "--out", tmp_path / "d.npz", "--resize", "4x4")
    assert fixed.returncode == 0, fixed.stderr
    assert load(tmp_path / "d.npz")["x"].shape == (2, 4, 4, 3)


def test_a_failed_build_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "d.npz"
    good = edgeprof("dataset", "build", class_folders(tmp_path / "good", {"a": 2}), "--out", out)
    assert good.returncode == 0, good.stderr
    before = out.read_bytes()
    one_error_line(edgeprof("dataset", "build", _undecodable(tmp_path / "bad"), "--out", out))
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir() if p.is_file()] == ["d.npz"]


def test_an_out_path_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "d.npz"
    line = one_error_line(edgeprof("dataset", "build", class_folders(tmp_path / "src", {"a": 1}), "--out", out))
    assert f"cannot write {out}" in line


def test_show_prints_inputs_ranges_nan_and_label_counts(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -np.inf
    np.savez(path, x=x, y=np.array([1, 0, 1, 1]), class_names=np.array(["cat", "dog"]))
    proc = edgeprof("dataset", "show", path, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    (entry,) = summary["inputs"]
    assert summary["samples"] == 4 and entry["shape"] == [4, 3] and entry["dtype"] == "float32"
    assert entry["nan"] == 1 and entry["inf"] == 2
    finite = [v for v in x.ravel().tolist() if np.isfinite(v)]
    assert entry["min"] == min(finite) and entry["max"] == max(finite) and entry["mean"] == pytest.approx(
        sum(finite) / len(finite))
    assert summary["labels"]["classes"] == [{"label": 0, "count": 1, "name": "cat"},
                                            {"label": 1, "count": 3, "name": "dog"}]
    text = edgeprof("dataset", "show", path)
    assert text.returncode == 0, text.stderr
    assert "4 samples, x [4, 3] float32, 2 classes" in text.stdout and "dog" in text.stdout


def test_show_refuses_a_text_file_named_npz(tmp_path: Path) -> None:
    fake = tmp_path / "fake.npz"
    fake.write_text("label,value\n")
    assert "is not an NPZ file" in one_error_line(edgeprof("dataset", "show", fake))


def _digit_folders(root: Path, per_class: int) -> Path:
    """The shipped digits test split as 8x8 grayscale PNGs in class folders d0 ... d9 (names, sorted = digit)."""
    data = load(DIGITS / "test.npz")
    for digit in range(10):
        for i, index in enumerate(np.flatnonzero(data["y"] == digit)[:per_class]):
            write_image(root / f"d{digit}" / f"{i}.png", np.round(data["x"][index, :, :, 0] * 255))
    return root


@pytest.mark.parametrize("model", ["digits-fp32.onnx", "digits-int8-static.tflite"])
def test_image_folder_to_deploy_gives_an_accuracy(tmp_path: Path, model: str) -> None:
    """Float inputs for the ONNX model; int8 inputs quantised with the TFLite model's own scale and zero point."""
    src = _digit_folders(tmp_path / "digits", 12)
    built = tmp_path / "built.npz"
    proc = edgeprof("dataset", "build", src, "--out", built, "--model", DIGITS / model, "--scale", "1/255")
    assert proc.returncode == 0, proc.stderr
    assert "120 samples" in proc.stdout and "10 classes" in proc.stdout
    assert load(built)["class_names"].tolist() == [f"d{i}" for i in range(10)]
    deploy = edgeprof("deploy", "--device", "local", "--model", DIGITS / model, "--dataset", built, "--json",
                      *FAST, "--store", tmp_path / "r.db")
    assert deploy.returncode == 0, deploy.stderr
    (result,) = json.loads(deploy.stdout)
    accuracy = result["accuracy"]
    assert accuracy["inputs"] == "dataset" and accuracy["samples"] == 120
    assert accuracy["top1"] >= 0.9  # the manifest records 0.98 on the whole test split


def test_the_readme_image_folder_flow_scores_the_shipped_mobilenet(tmp_path: Path) -> None:
    """README "Bring your own data": the shipped shape images, in the model's class order (classes.txt), give the
    trained MobileNet its recorded accuracy, the int8 variant a meaningful agreement; in sorted folder order the
    labels are wrong, which is why --classes exists."""
    images, classes = MOBILENET / "images", MOBILENET / "classes.txt"
    built, sorted_order = tmp_path / "shapes.npz", tmp_path / "sorted.npz"
    for out, extra in ((built, ["--classes", classes]), (sorted_order, [])):
        proc = edgeprof("dataset", "build", images, "--resize", "96x96", "--scale", "1/255", "--out", out, *extra)
        assert proc.returncode == 0, proc.stderr
    assert load(built)["class_names"].tolist() == classes.read_text().split()
    deploy = edgeprof("deploy", "--device", "local", "--model", MOBILENET / "mobilenetv2-fp32.onnx",
                      "--model", MOBILENET / "mobilenetv2-int8-static.onnx", "--dataset", built, "--json", *FAST,
                      "--store", tmp_path / "r.db")
    assert deploy.returncode in (0, 1), deploy.stderr  # a latency or memory bound may fail on a busy host
    fp32, int8 = sorted(json.loads(deploy.stdout), key=lambda r: r["model"]["variant"] != "fp32")
    assert fp32["accuracy"]["samples"] == 100 and fp32["accuracy"]["top1"] >= 0.9
    assert int8["accuracy"]["top1"] >= 0.9 and int8["accuracy"]["reference"]["meaningful"] is True
    wrong = edgeprof("deploy", "--device", "local", "--model", MOBILENET / "mobilenetv2-fp32.onnx", "--dataset",
                     sorted_order, "--json", *FAST, "--store", tmp_path / "r.db")
    (result,) = json.loads(wrong.stdout)
    assert result["accuracy"]["top1"] < 0.5
