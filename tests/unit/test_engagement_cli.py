"""The product's command line, where it needs no running cloud: clear answers before anything starts."""

from pathlib import Path

import pytest

from engagement_cli.commands import main, split_csv


def test_run_without_a_synthesized_app_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--rows", "10"]) == 1
    assert "cdk.out.local/manifest.json not found: synthesize the app first (make synth-local)" in capsys.readouterr().err


def test_run_on_a_file_that_is_not_there_says_so_before_starting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--input", "mine.csv"]) == 1
    assert "--input mine.csv: no such file" in capsys.readouterr().err
    assert not (tmp_path / ".localcloud").exists()


def test_run_takes_generated_customers_or_a_file_not_both(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["run", "--rows", "10", "--input", "mine.csv"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_image_option_that_is_not_uri_equals_dockerfile_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(["run", "--image", "engagement-ml:local"])
    assert refused.value.code == 2 and "expected URI=DOCKERFILE, got 'engagement-ml:local'" in capsys.readouterr().err


def test_run_refuses_files_of_no_rows_before_starting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--file-rows", "0"]) == 1
    assert "--file-rows 0: a file holds at least one row" in capsys.readouterr().err
    assert not (tmp_path / ".localcloud").exists()


def test_an_upload_split_into_files_keeps_every_row_once_and_the_header_in_each(tmp_path):
    source = tmp_path / "customers.csv"
    source.write_bytes(b"customer_id,age\n" + b"".join(b"C-%d,%d\n" % (i, 20 + i) for i in range(7)))
    parts = split_csv(source, 3, tmp_path / "parts")
    assert [part.name for part in parts] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    texts = [part.read_bytes().splitlines() for part in parts]
    assert all(lines[0] == b"customer_id,age" for lines in texts) and [len(t) for t in texts] == [4, 4, 2]
    assert [row for lines in texts for row in lines[1:]] == source.read_bytes().splitlines()[1:]


def test_an_upload_to_an_app_without_the_raw_bucket_says_so():
    from types import SimpleNamespace

    from engagement_cli.commands import upload
    from localcloud.session import InputError

    cloud = SimpleNamespace(deployment=SimpleNamespace(exports={"Other-QaBucketName": "qa"}))
    with pytest.raises(InputError, match=r"exports no \*-RawBucketName"):
        upload(cloud, Path("customers.csv"), "customers/customers.csv")
