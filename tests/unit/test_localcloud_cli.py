"""The local cloud's command line, where it needs no running cloud: clear answers."""

import pytest

from localcloud.__main__ import main


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


def test_sql_and_status_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sql", "SELECT 1"]) == 1
    assert "no local run yet" in capsys.readouterr().err
    assert main(["status"]) == 1
    assert "no local run yet" in capsys.readouterr().out


def test_down_without_a_server(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["down"]) == 0
    assert "no local cloud is serving" in capsys.readouterr().out


def test_down_never_signals_a_process_that_is_not_its_server(tmp_path, monkeypatch, capsys):
    """A stale server.json whose pid now belongs to someone else: remove the file, signal nothing."""
    import json
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".localcloud").mkdir()
        (tmp_path / ".localcloud" / "server.json").write_text(json.dumps(
            {"pid": bystander.pid, "process": "Sun Nov 22 00:00:00 2026 python -m localcloud up", "endpoint": "x"}))
        assert main(["down"]) == 0
        assert "is not the one `up` started" in capsys.readouterr().out
        assert bystander.poll() is None, "down signalled a process that was not its server"
        assert not (tmp_path / ".localcloud" / "server.json").exists()
    finally:
        bystander.kill()


def test_an_image_option_that_is_not_uri_equals_dockerfile_is_refused(tmp_path, monkeypatch, capsys):
    import pytest

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(["run", "--image", "engagement-ml:local"])
    assert refused.value.code == 2 and "expected URI=DOCKERFILE, got 'engagement-ml:local'" in capsys.readouterr().err


def test_an_image_without_its_dockerfile_stops_before_anything_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["up", "--empty", "--image", "engagement-ml:local=missing/Dockerfile"]) == 1
    assert "no Dockerfile at missing/Dockerfile for image engagement-ml:local" in capsys.readouterr().err
    assert not (tmp_path / ".localcloud" / "server.json").exists()


def test_run_refuses_files_of_no_rows_before_starting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--file-rows", "0"]) == 1
    assert "--file-rows 0: a file holds at least one row" in capsys.readouterr().err
    assert not (tmp_path / ".localcloud").exists()
