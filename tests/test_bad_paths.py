"""Bad paths: checked before any work starts, reported in one line with the path."""

import os

import pytest

from nprelu.files import check_writable


def test_train_out_is_a_folder_fails_before_training(cli, tmp_path):
    code, out, err = cli("train", "--out", tmp_path, "--epochs", "1")
    assert code == 2 and out == ""  # nothing trained, nothing printed
    assert f"--out {tmp_path} is a folder; give a file name such as {tmp_path}/model.npz" in err


def test_train_out_under_a_file_fails_before_training(cli, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, out, err = cli("train", "--out", blocker / "sub" / "m.npz", "--epochs", "1")
    assert code == 2 and out == "" and f"{blocker} is a file, not a folder" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_train_out_in_a_read_only_folder_fails_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match=f"no permission to write in {ro}"):
        check_writable(ro / "m.npz")


def test_out_path_in_an_existing_folder_is_fine(tmp_path):
    assert check_writable(tmp_path / "m.npz").name == "m.npz"


def test_train_out_in_a_folder_that_does_not_exist_fails_before_training(cli, tmp_path):
    """A typo in --out must not create folders: refused, with the mkdir that would fix it."""
    target = tmp_path / "new" / "deeper" / "m.npz"
    code, out, err = cli("train", "--out", target, "--epochs", "1")
    assert code == 2 and out == ""
    assert f"the folder {target.parent} does not exist; create it first" in err
    assert not (tmp_path / "new").exists()


def test_missing_model_file(cli, tmp_path):
    code, _, err = cli("attack", tmp_path / "nope.npz")
    assert code == 2 and f"no model file at {tmp_path / 'nope.npz'}" in err


def test_missing_data_folder_points_at_the_data_readme(cli, tmp_path, tiny_model_file):
    code, _, err = cli("eval", tiny_model_file, "--data", tmp_path / "nowhere")
    assert code == 2
    assert f"MNIST file not found: {tmp_path / 'nowhere'}/t10k-images-idx3-ubyte.gz" in err
    assert "data/mnist/README.md" in err and "NPRELU_MNIST_DIR" in err


@pytest.mark.parametrize("option", ["--results", "--cache"])
def test_reproduce_refuses_a_file_as_output_folder(cli, tmp_path, option):
    f = tmp_path / "a-file"
    f.write_text("x")
    code, _, err = cli("reproduce", "--quick", "--only", "ch7", option, f)
    assert code == 2 and f"{option} {f} is a file; give a folder" in err


def test_reproduce_refuses_an_unknown_chapter(cli):
    code, _, err = cli("reproduce", "--quick", "--only", "ch4,ch42")
    assert code == 2 and "unknown chapter(s) ch42; choose from ch3, ch3s" in err
