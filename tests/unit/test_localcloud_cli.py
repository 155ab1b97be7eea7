"""The local cloud's command line, where it needs no running cloud: clear answers."""

from localcloud.__main__ import main


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


def test_an_image_without_its_dockerfile_stops_before_anything_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["up", "--empty", "--image", "engagement-ml:local=missing/Dockerfile"]) == 1
    assert "no Dockerfile at missing/Dockerfile for image engagement-ml:local" in capsys.readouterr().err
    assert not (tmp_path / ".localcloud" / "server.json").exists()
