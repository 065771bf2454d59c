"""The `make run` launcher finds the project it starts (it lives two folders below the root)."""

from site_config.devtools import run_local


def test_launcher_runs_the_projects_own_manage_py_and_procfile():
    assert (run_local.BASE_DIR / "manage.py").is_file()
    assert (run_local.BASE_DIR / "Procfile").is_file()
    assert (run_local.BASE_DIR / "site_config" / "devtools" / "run_local.py").samefile(run_local.__file__)
