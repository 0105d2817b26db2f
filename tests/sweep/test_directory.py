"""A sweep directory: held by one sweep at a time, refused to another study, and refused either way
before anything is written. (Two real ``tools/compare.py`` processes: ``tests/test_compare.py``.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mathpe_jax.errors import UserError
from mathpe_jax.run.directory import RunLocked
from mathpe_jax.run.layout import SWEEP
from mathpe_jax.sweep.directory import open_sweep
from mathpe_jax.sweep.plan import PlannedRun, record_plan

# Exits 0 when it can take the lock of the directory argv[1], 1 while someone else holds it.
TRY_LOCK = ("import fcntl, os, sys; fd = os.open(os.path.join(sys.argv[1], '.lock'), os.O_RDWR | os.O_CREAT)\n"
            "try: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError: sys.exit(1)")


def _runs(out, names=("rope",)) -> list[PlannedRun]:
    return [PlannedRun(name, f"configs/{name}.py", 0, (), out / name / "seed0") for name in names]


def _locked_elsewhere(out) -> bool:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(out)], check=False).returncode == 1


def test_the_sweep_holds_its_directory_for_the_block_and_records_its_plan(tmp_path):
    with open_sweep(tmp_path, _runs(tmp_path)):
        assert _locked_elsewhere(tmp_path)
        assert (tmp_path / SWEEP).is_file()
    assert not _locked_elsewhere(tmp_path)


def test_a_held_directory_is_refused_naming_the_holder_before_anything_is_written(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX)\n"
                               "os.write(fd, f'{os.getpid()}\\n'.encode()); print(flush=True); time.sleep(60)",
                               str(tmp_path / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()  # the lock is held
        with pytest.raises(RunLocked, match=f"^sweep directory {tmp_path} is in use by process {holder.pid}$"):
            with open_sweep(tmp_path, _runs(tmp_path)):
                pytest.fail("entered a held sweep directory")
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_another_study_is_refused_without_writing_even_the_lock(tmp_path):
    record_plan(tmp_path, _runs(tmp_path))
    before = (tmp_path / SWEEP).read_text()
    with pytest.raises(UserError, match="holds arm 'rope' .* use another --out for a different study$"):
        with open_sweep(tmp_path, _runs(tmp_path, names=("nope",))):
            pytest.fail("entered another study's directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == [SWEEP]
    assert (tmp_path / SWEEP).read_text() == before


def test_an_out_that_is_a_file_is_named(tmp_path):
    out = tmp_path / "out"
    out.write_text("")
    with pytest.raises(UserError, match=f"^--out {out} is a file, not a directory$"):
        with open_sweep(out, _runs(out)):
            pytest.fail("entered a file")
