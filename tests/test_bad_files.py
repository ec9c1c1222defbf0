"""Bad files: one loader checks a model file completely and names what is wrong; a corrupt
cached model is moved aside and retrained; data files are checked; nothing loads a pickle."""

import json
import shutil
import zipfile

import numpy as np
import pytest

import nprelu as nr
from nprelu.context import make_context
from nprelu.data import FILES, default_dir
from nprelu.files import ModelFileError
from nprelu.model import read_model_file


def _save_arrays(path, meta=None, **arrays):
    payload = dict(arrays)
    if meta is not None:
        payload["meta"] = np.array(json.dumps(meta))
    np.savez(path, **payload)
    return path


def _good(tmp_path):
    model = nr.MLP((16,), seed=0)
    path = model.save(tmp_path / "good.npz")
    meta, layers = read_model_file(path)
    arrays = {f"{k}{i}": a for i, (W, b) in enumerate(layers) for k, a in (("W", W), ("b", b))}
    return meta, arrays


@pytest.mark.parametrize("drop", ["hidden", "n_out", "format_version", "caps"])
def test_metadata_missing_a_key_is_named(tmp_path, cli, drop):
    meta, arrays = _good(tmp_path)
    del meta[drop]
    path = _save_arrays(tmp_path / "m.npz", meta, **arrays)
    with pytest.raises(ModelFileError, match=f"metadata lacks {drop}"):
        nr.MLP.load(path)
    code, _, err = cli("eval", path)
    assert code == 2 and f"metadata lacks {drop}" in err and str(path) in err


def test_missing_weight_array_is_named(tmp_path, cli):
    meta, arrays = _good(tmp_path)
    del arrays["b1"]
    path = _save_arrays(tmp_path / "m.npz", meta, **arrays)
    code, _, err = cli("eval", path)
    assert code == 2 and "weight arrays b1 are missing" in err


def test_wrong_shape_and_extra_arrays_are_named(tmp_path):
    meta, arrays = _good(tmp_path)
    bad = dict(arrays, W0=arrays["W0"][:, :8])
    with pytest.raises(ModelFileError, match=r"layer 0 has W \(784, 8\).*expected \(784, 16\)"):
        nr.MLP.load(_save_arrays(tmp_path / "a.npz", meta, **bad))
    with pytest.raises(ModelFileError, match="unexpected arrays W7"):
        nr.MLP.load(_save_arrays(tmp_path / "b.npz", meta, W7=arrays["W0"], **arrays))
    with pytest.raises(ModelFileError, match="no 'meta' entry"):
        nr.MLP.load(_save_arrays(tmp_path / "c.npz", None, **arrays))


@pytest.mark.parametrize("where", ["W0", "b1"])
def test_a_single_nan_weight_is_refused(tmp_path, cli, where):
    meta, arrays = _good(tmp_path)
    arrays[where] = arrays[where].copy()
    arrays[where].flat[3] = np.nan
    path = _save_arrays(tmp_path / "m.npz", meta, **arrays)
    code, _, err = cli("eval", path)
    assert code == 2 and f"{where} holds 1 NaN or infinite weights" in err


def test_npy_text_folder_and_pickle_files_are_refused_without_unpickling(tmp_path, cli):
    npy = tmp_path / "w.npy"
    np.save(npy, np.zeros(3))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    pickled = tmp_path / "p.npz"
    np.savez(pickled, meta=np.array([{"evil": 1}], dtype=object))
    cases = ((npy, r"a single NumPy array \(.npy\)"), (text, "not a zip archive"),
             (tmp_path, "is a folder"), (pickled, r"Python objects \(pickled data\), which nprelu"))
    for path, match in cases:
        with pytest.raises(ModelFileError, match=match):
            nr.MLP.load(path)
        code, _, err = cli("eval", path)
        assert code == 2 and "allow_pickle" not in err
        assert err.count("\n") == 1  # one line, no traceback


def test_truncated_model_file(tmp_path, cli):
    path = nr.MLP((16,), seed=0).save(tmp_path / "m.npz")
    path.write_bytes(path.read_bytes()[:2000])
    assert not zipfile.is_zipfile(path)
    code, _, err = cli("eval", path)
    assert code == 2 and "not an nprelu model" in err


def test_corrupt_cached_model_is_moved_aside_and_retrained(tmp_path, capsys):
    ctx = make_context(quick=True, results=tmp_path / "res", cache=tmp_path / "cache",
                       n_train=64, epochs=1)
    spec = ctx.spec((8,))
    first = ctx.model(spec)
    path = ctx.store.model_path(spec)
    path.write_bytes(b"garbage")
    ctx2 = make_context(quick=True, results=tmp_path / "res", cache=tmp_path / "cache",
                        n_train=64, epochs=1)
    again = ctx2.model(spec)
    out = capsys.readouterr().out
    assert "could not be read" in out and f"moved it to {path.with_suffix('.corrupt')}" in out
    assert path.with_suffix(".corrupt").read_bytes() == b"garbage"
    np.testing.assert_array_equal(again.params, first.params)  # same recipe, same bits
    assert nr.MLP.load(path) is not None


def test_unreadable_record_is_recomputed(tmp_path, capsys):
    ctx = make_context(quick=True, results=tmp_path / "res", cache=tmp_path / "cache")
    assert ctx.records({"r": (sum, [1, 2])}) == {"r": 3}
    ctx.store.record_path("r").write_text("{ not json")
    again = make_context(quick=True, results=tmp_path / "res", cache=tmp_path / "cache")
    assert again.records({"r": (sum, [1, 2])}) == {"r": 3}
    assert "not readable JSON" in capsys.readouterr().out
    assert json.loads(ctx.store.record_path("r").read_text())["numbers"] == 3


def test_eval_and_attack_need_only_the_test_files(tmp_path, cli, tiny_model_file):
    for name in FILES:
        if name.startswith("t10k"):
            shutil.copy(default_dir() / name, tmp_path / name)
    code, out, _ = cli("eval", tiny_model_file, "--data", tmp_path)
    assert code == 0 and "test accuracy" in out
    code, out, _ = cli("attack", tiny_model_file, "--data", tmp_path, "-n", "50", "--method",
                       "fgsm")
    assert code == 0 and "robust accuracy" in out
    code, _, err = cli("train", "--data", tmp_path, "--epochs", "1", "--out", tmp_path / "m.npz")
    assert code == 2 and "train-images-idx3-ubyte.gz" in err
    assert "data/mnist/README.md" in err and "../shared" not in err
