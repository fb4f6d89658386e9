"""Every benchmark still runs, on every leg, at a tiny size.

Nothing else runs the benches, and a bench that patches our internals breaks
silently when they change (bench/voice_turn.py once did). The figures here mean
nothing; that each bench completes and prints its table does.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .house import ROOT

pytestmark = pytest.mark.system

TINY = {
    "audio_path": ({}, ["--seconds", "1", "--repeat", "1"]),
    "voice_turn": ({"BENCH_TURNS": "2"}, []),
    "satellite_latency": ({"BENCH_TURNS": "1", "BENCH_SPEED": "20"}, []),
    "scale": ({"BENCH_VOICE": "2", "BENCH_TYPED": "2", "BENCH_ROUNDS": "1"}, []),
    "tokens": ({}, []),
}


@pytest.mark.parametrize("bench", sorted(TINY))
def test_the_bench_runs_and_prints_its_table(bench: str) -> None:
    """`python bench/NAME.py` exits 0 and prints a markdown table."""
    env, args = TINY[bench]
    done = subprocess.run(  # noqa: S603 - our own bench
        [sys.executable, str(ROOT / "bench" / f"{bench}.py"), *args],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "|---|" in done.stdout, output[-4000:]
