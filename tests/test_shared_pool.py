"""One onnxruntime thread pool for the whole process (voxport.runtimes.share_thread_pool, what
`voxport serve --thread-pool shared` uses): the same audio as sessions with pools of their own, every
session opened after it on the pool, and calls from several threads at once still exact.

The pool cannot be undone in a process, so each case runs in a child process of its own.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

CHILD = r"""
import sys, threading
import numpy as np
from voxport.runtimes import share_thread_pool, shared_pool_threads

bundle, mode, out = sys.argv[1:4]
if mode == "shared":
    assert shared_pool_threads() is None
    assert share_thread_pool(2) == 2
    assert share_thread_pool(5) == 2, "a second call must not resize the pool"
    assert shared_pool_threads() == 2
from voxport import Voice
from voxport.synthesis import SynthesisConfig

voice = Voice.load(bundle, threads=1)
per_session = {stage: session.session_options.use_per_session_threads
               for stage, session in voice.engine.sessions.sessions.items()}
texts = ["One pool for every stage.", "Two threads speak at once, each its own sentence!"]
alone = [voice.synthesize(t, SynthesisConfig(seed=7)) for t in texts]
together = [None, None]

def speak(i):
    copy = voice.sibling()
    together[i] = copy.synthesize(texts[i], SynthesisConfig(seed=7))

threads = [threading.Thread(target=speak, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
np.savez(out, a0=alone[0], a1=alone[1], t0=together[0], t1=together[1],
         per_session=np.array(list(per_session.values())))
"""


def _child(bundle, mode: str, out) -> dict[str, np.ndarray]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(bundle), mode, str(out)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ignored when using a global thread pool" not in done.stderr  # no option set that the pool ignores
    with np.load(out) as saved:
        return dict(saved)


def test_one_pool_speaks_what_a_pool_per_session_speaks(tiny_bundle, tmp_path):
    own = _child(tiny_bundle, "own", tmp_path / "own.npz")
    shared = _child(tiny_bundle, "shared", tmp_path / "shared.npz")
    assert own["per_session"].all() and not shared["per_session"].any()
    for key in ("a0", "a1", "t0", "t1"):
        assert shared[key].size > 1000
        # The same graphs and inputs; only the threads that run them differ.
        np.testing.assert_allclose(shared[key], own[key], atol=1e-4)
    # Concurrent calls on the shared pool give what each gives alone.
    np.testing.assert_allclose(shared["t0"], shared["a0"], atol=1e-5)
    np.testing.assert_allclose(shared["t1"], shared["a1"], atol=1e-5)
