"""Runs the PyTorch programs in tests/programs (see its README) with dlcore and, where torch
is installed, with torch, and checks that both finish and report the same results."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

PROGRAMS = sorted((pathlib.Path(__file__).parent / "programs").glob("*.py"))
TIMEOUT_S = 300


def _run(path, cwd):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd,
                          env=env)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, f"{path.name} printed {len(lines)} RESULT lines:\n{proc.stdout[-2000:]}"
    return json.loads(lines[0][len("RESULT "):])


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program_runs_on_dlcore_and_torch(program, tmp_path):
    ours = _run(program, tmp_path)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    as_torch = tmp_path / program.name
    as_torch.write_text(program.read_text().replace("dlcore", "torch"))
    assert _run(as_torch, tmp_path) == ours
