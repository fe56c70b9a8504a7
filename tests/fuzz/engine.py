"""The fuzzer engine: call generation, the worker that runs a batch of calls in a subprocess, the
differential comparison against torch, and the driver that runs batches, isolates the call
behind a crash or hang and writes a reproducer.

Call ``i`` of seed ``s`` is a pure function of ``(s, i)`` (``random.Random(f"{s}:{i}")``), so a
batch can be replayed from any index, and ``dlcore.manual_seed(i)`` is set before each call.

Outcomes of a call:
  pass          it returned, or raised one of ALLOWED (rejecting bad arguments is correct)
  odd           it raised another exception type (informational)
  crash / hang  the worker died of a signal / made no progress for ``call_timeout`` seconds
  mismatch      (--diff) dlcore and torch both returned, with different results
  disagreement  (--diff) exactly one of them raised (informational)
"""
import json
import math
import re
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .gen import PRELUDE, Ctx, prelude_for
from .known import known_match, known_mismatch
from .specs import SPECS

ALLOWED = (ValueError, TypeError, IndexError, RuntimeError, MemoryError, NotImplementedError, OverflowError)
MEMORY_LIMIT = 8 << 30          # RLIMIT_AS of a worker: a giant allocation becomes MemoryError
TOUCH_LIMIT = 4_000_000         # results up to this many elements are read back (numpy) after the call
HERE = os.path.dirname(os.path.abspath(__file__))

# (rtol, atol) by comparison class and dtype; for "red"/"gemm" atol is scaled by max(1, max |ref|).
TOLERANCES = {
    "exact": {"float32": (0.0, 0.0), "float64": (0.0, 0.0)},
    "ew": {"float32": (2e-5, 1e-6), "float64": (1e-12, 1e-14)},
    "red": {"float32": (1e-4, 5e-5), "float64": (1e-10, 1e-12)},
    "gemm": {"float32": (1e-4, 5e-5), "float64": (1e-10, 1e-12)},
}
DEFAULT_TOL = {"float16": (2e-3, 1e-3), "bfloat16": (2e-2, 1e-2)}


# ---- calls ----------------------------------------------------------------------------------
@dataclass
class Call:
    seed: int
    index: int
    spec: str
    source: str
    tol: str
    comparable: bool
    invalid: bool
    tags: tuple = ()

    @property
    def op(self):
        return op_signature(self.source)


_SPEC_NAMES = sorted(SPECS)
_WEIGHTS = [SPECS[n].weight for n in _SPEC_NAMES]


def make_call(seed, index, diff=False):
    """Call `index` of `seed`: a pure function of (seed, index, diff)."""
    rng = random.Random(f"{seed}:{index}")
    name = rng.choices(_SPEC_NAMES, _WEIGHTS)[0]
    invalid = (not diff) and rng.random() < 0.4
    c = Ctx(rng, invalid, diff)
    SPECS[name].gen(c)
    inject = _injected().get(index)
    if inject is not None:   # self-tests of the machinery: a chosen call replaced by given source
        return Call(seed, index, "injected", inject, "exact", False, True, ())
    return Call(seed, index, name, c.source(), c.tol, c.comparable, invalid, tuple(sorted(c.tags)))


def _injected():
    """DLCORE_FUZZ_INJECT='{"<index>": "<source>", ...}' replaces those calls (tests of the fuzzer)."""
    raw = os.environ.get("DLCORE_FUZZ_INJECT")
    return {int(k): v for k, v in json.loads(raw).items()} if raw else {}


def op_signature(source):
    """A short name of what the call exercises, from its ``out = ...`` line (for dedup)."""
    lines = [ln.strip() for ln in source.splitlines()] or [""]
    line = next((ln for ln in lines if ln.startswith("out = ")), lines[-1])
    m = re.search(r"\b([LF])\.(\w+)\(", line) or re.search(r"\.(\w+)\(", line)
    if m:
        return ".".join(g for g in m.groups() if g)
    m = re.search(r"(\*\*|@|==|!=|<=|>=|[-+*/<>&|~\[])", line)
    return f"operator{m.group(1)}" if m else line[6:30]


def reproducer(calls, lib="dlcore", sources=None):
    """Self-contained Python source replaying `calls` (the last one is the culprit); `sources`
    overrides the calls' source text (shrunk versions)."""
    sources = sources or [c.source for c in calls]
    if len(calls) == 1:
        body = f"L.manual_seed({calls[0].index})\n" + sources[0] + "\n"
    else:
        lines = []
        for c, src in zip(calls, sources):
            lines.append(f"L.manual_seed({c.index})")
            lines.append("try:")
            lines.extend("    " + ln for ln in src.splitlines())
            lines.append("except Exception:\n    pass")
        body = "\n".join(lines) + "\n"
    return prelude_for(body) + f"import {lib} as L\nimport {lib}.nn.functional as F\n" + body


_DATA = re.compile(r"L\.tensor\(A\((\([^()]*\)), \d+, '[a-z]'\)(, dtype=L\.\w+)")


def shrink_candidates(source, stderr=""):
    """Simpler variants of a call's source, simplest first: the random data replaced by ones, the
    statements after the crashing line (from faulthandler's traceback) dropped, no manual_seed."""
    lines = source.splitlines()
    m = re.search(r'File "<fuzz>", line (\d+)', stderr)
    cut = lines[:int(m.group(1))] if m else lines
    cands = []
    for body in (cut, lines):
        text = "\n".join(body)
        cands.append(_DATA.sub(r"L.ones(\1\2", text))
        cands.append(text)
    seen, out = set(), []
    for c in cands:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def run_script(text, timeout, memory_limit=MEMORY_LIMIT):
    """Runs a reproducer in a fresh interpreter: ('ok' | 'crash' | 'hang', signal name)."""
    def limit():
        import resource
        if memory_limit > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    try:
        p = subprocess.run([sys.executable, "-c", text], env=_child_env(), capture_output=True, timeout=timeout,
                           preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return "hang", f"no progress for {timeout:.0f} s"
    if p.returncode < 0:
        try:
            return "crash", signal.Signals(-p.returncode).name
        except ValueError:
            return "crash", f"signal {-p.returncode}"
    return "ok", ""


def shrink(call, status, sig, stderr, timeout, memory_limit=MEMORY_LIMIT):
    """The simplest single-call reproducer that still fails the same way (else the original)."""
    cands = shrink_candidates(call.source, stderr)
    for cand in (cands[:1] if status == "hang" else cands):
        for seeded in ((False,) if status == "hang" else (False, True)):
            text = reproducer([call], sources=[cand])
            if not seeded:
                text = text.replace(f"L.manual_seed({call.index})\n", "")
            st, s = run_script(text, timeout + 5, memory_limit)
            if st == status and (status == "hang" or s == sig):
                return text
    return reproducer([call])


# ---- running one call (inside the worker) -------------------------------------------------------
def _namespace(lib):
    ns = {"__name__": "__fuzz__"}
    exec(PRELUDE, ns)
    if lib == "dlcore":
        import dlcore
        import dlcore.nn.functional as F
        ns.update(L=dlcore, F=F)
    else:
        import torch
        import torch.nn.functional as F
        ns.update(L=torch, F=F)
    return ns


def run_source(source, base_ns):
    """('ok', out) or ('exc', exception)."""
    ns = dict(base_ns)
    try:
        exec(compile(source, "<fuzz>", "exec"), ns)
    except BaseException as e:  # noqa: B902 - report everything that is not a crash
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return "exc", e
    return "ok", ns.get("out")


def touch(out):
    """Reads every element of the result (a crash on a bad view surfaces here, in the call)."""
    import numpy as np
    if isinstance(out, (tuple, list)):
        for o in out:
            touch(o)
    elif isinstance(out, dict):
        for o in out.values():
            touch(o)
    elif hasattr(out, "numel") and hasattr(out, "detach"):
        if out.numel() <= TOUCH_LIMIT:
            t = out.detach()
            if str(t.dtype).split(".")[-1] in ("float16", "bfloat16"):
                t = t.float()
            np.asarray(t.numpy()).sum()


# ---- differential comparison --------------------------------------------------------------------
def _leaves(out, acc):
    import numpy as np
    if isinstance(out, (tuple, list)):
        for o in out:
            _leaves(o, acc)
    elif hasattr(out, "detach") and hasattr(out, "dtype") and hasattr(out, "shape"):
        t = out.detach()
        dt = str(t.dtype).split(".")[-1]
        if dt in ("float16", "bfloat16"):
            t = t.float()
        acc.append(("tensor", dt, np.array(t.numpy())))
    else:
        acc.append(("value", None, out))
    return acc


def _close(a, b, rtol, atol):
    """(ok, detail) for float arrays: nan positions equal, infinities equal, finite values close."""
    import numpy as np
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        i = np.argwhere(na != nb)[0]
        return False, f"nan mismatch at {tuple(i)}: dlcore {a[tuple(i)]} torch {b[tuple(i)]}"
    ia, ib = np.isinf(a), np.isinf(b)
    if not np.array_equal(ia & ~na, ib & ~nb) or not np.array_equal(a[ia], b[ib]):
        i = np.argwhere((ia != ib) | (ia & (a != b)))
        i = tuple(i[0]) if len(i) else ()
        return False, f"inf mismatch at {i}: dlcore {a[i] if i else ''} torch {b[i] if i else ''}"
    fin = ~(na | ia)
    if not fin.any():
        return True, ""
    err = np.abs(a[fin] - b[fin])
    bound = atol + rtol * np.abs(b[fin])
    if np.all(err <= bound):
        return True, ""
    j = int(np.argmax(err - bound))
    idx = tuple(np.argwhere(fin)[j])
    return False, (f"max excess at {idx}: dlcore {a[idx]!r} torch {b[idx]!r} (|diff| {err[j]:.3g}, "
                   f"allowed {bound[j]:.3g})")


def compare(out_dl, out_t, tol, mixed_precision=False):
    """None when the results agree, else a description of the first difference."""
    import numpy as np
    A = _leaves(out_dl, [])
    B = _leaves(out_t, [])
    if len(A) != len(B):
        return f"structure: dlcore gives {len(A)} outputs, torch {len(B)}"
    for k, ((ka, da, va), (kb, db, vb)) in enumerate(zip(A, B)):
        if ka != kb:
            if ka == "value" and va is None and not vb.any():
                return f"output {k}: dlcore None, torch all zeros (an unreached leaf's grad)"
            return f"output {k}: dlcore gives a {ka}, torch a {kb}"
        if ka == "value":
            if _value_norm(va) != _value_norm(vb):
                if isinstance(va, float) and isinstance(vb, float) and math.isclose(va, vb, rel_tol=1e-5):
                    continue
                return f"output {k}: dlcore {va!r} != torch {vb!r}"
            continue
        if da != db:
            return f"output {k}: dtype dlcore {da} != torch {db}"
        if va.shape != vb.shape:
            return f"output {k}: shape dlcore {va.shape} != torch {vb.shape}"
        if tol == "shape" or va.size == 0:
            continue
        if va.dtype.kind in "biu":
            if not np.array_equal(va, vb):
                i = tuple(np.argwhere(va != vb)[0])
                return f"output {k}: at {i} dlcore {va[i]!r} != torch {vb[i]!r}"
            continue
        # a float64 result of a call that also involves float32 (dtype=, mixed inputs) is float32-accurate
        prec = "float32" if da == "float64" and mixed_precision else da
        rtol, atol = TOLERANCES.get(tol, {}).get(prec) or DEFAULT_TOL.get(prec, (1e-5, 1e-6))
        if tol in ("red", "gemm"):
            finite = np.abs(vb[np.isfinite(vb)])
            atol *= max(1.0, float(finite.max()) if finite.size else 1.0)
        ok, detail = _close(va, vb, rtol, atol)
        if not ok:
            return f"output {k} ({da}, {tol}): {detail}"
    return None


def _value_norm(v):
    if isinstance(v, (tuple, list)):
        return tuple(_value_norm(x) for x in v)
    if type(v).__name__ == "dtype":
        return str(v).split(".")[-1]
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return v


# ---- the worker -----------------------------------------------------------------------------------
def _exc_text(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


def worker_main(argv):
    """python -m fuzz.engine SEED START STOP DIFF SKIP_KNOWN PROGRESS EVENTS [MEMORY_LIMIT]"""
    seed, start, stop, diff, skip_known = int(argv[0]), int(argv[1]), int(argv[2]), argv[3] == "1", argv[4] == "1"
    progress_path, events_path = argv[5], argv[6]
    limit = int(argv[7]) if len(argv) > 7 else MEMORY_LIMIT
    import faulthandler
    import resource
    import warnings
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    faulthandler.enable()
    warnings.simplefilter("ignore")
    import dlcore
    ns_dl = _namespace("dlcore")
    threads = dlcore.get_num_threads()
    ns_t = None
    if diff:
        import torch
        torch.set_num_threads(1)
        ns_t = _namespace("torch")
    counts = {"run": 0, "returned": 0, "raised": 0, "skipped": 0, "odd": 0, "compared": 0, "mismatch": 0,
              "disagree": 0}
    with open(progress_path, "w") as prog, open(events_path, "a") as ev:
        def event(kind, call, **kw):
            ev.write(json.dumps(dict(kind=kind, seed=call.seed, index=call.index, spec=call.spec, op=call.op,
                                     source=call.source, **kw)) + "\n")
            ev.flush()

        for i in range(start, stop):
            try:
                call = make_call(seed, i, diff)
            except Exception as e:  # noqa: BLE001 - a generator bug must not stop the batch
                counts["generator_error"] = counts.get("generator_error", 0) + 1
                ev.write(json.dumps(dict(kind="generator_error", seed=seed, index=i, spec="?", op="?", source="",
                                         error=_exc_text(e))) + "\n")
                continue
            if skip_known and known_match(call):
                counts["skipped"] += 1
                continue
            prog.write(f"{i}\n")
            prog.flush()
            counts["run"] += 1
            dlcore.manual_seed(i)
            st, out = run_source(call.source, ns_dl)
            if st == "ok":
                try:
                    touch(out)
                except Exception as e:  # noqa: BLE001
                    if not isinstance(e, ALLOWED):
                        event("odd", call, error="reading the result: " + _exc_text(e))
            if call.spec == "misc":
                dlcore.set_num_threads(threads)
                dlcore._C._set_grad_enabled(True)
            if st == "exc":
                counts["raised"] += 1
                if not isinstance(out, ALLOWED):
                    counts["odd"] += 1
                    event("odd", call, error=_exc_text(out))
            else:
                counts["returned"] += 1
            if diff and call.comparable:
                import torch
                torch.manual_seed(i)
                st_t, out_t = run_source(call.source, ns_t)
                if st == "ok" and st_t == "ok":
                    counts["compared"] += 1
                    try:
                        detail = compare(out, out_t, call.tol, "float32" in call.source)
                    except Exception as e:  # noqa: BLE001 - a comparison bug is not a dlcore bug
                        detail = None
                        event("odd", call, error=f"comparison failed: {_exc_text(e)}")
                    if detail:
                        kid = known_mismatch(call, detail)
                        if kid:
                            counts["known_mismatch"] = counts.get("known_mismatch", 0) + 1
                            event("known_mismatch", call, detail=detail, known=kid)
                        else:
                            counts["mismatch"] += 1
                            event("mismatch", call, detail=detail)
                elif (st == "ok") != (st_t == "ok"):
                    counts["disagree"] += 1
                    event("disagree", call, dlcore=_exc_text(out) if st == "exc" else "returned",
                          torch=_exc_text(out_t) if st_t == "exc" else "returned")
        ev.write(json.dumps(dict(kind="done", counts=counts)) + "\n")
    return 0


# ---- the driver -----------------------------------------------------------------------------------
@dataclass
class BatchResult:
    status: str            # ok / crash / hang / error
    last: int              # index of the last call started (-1: none)
    detail: str = ""
    events: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0


def _child_env():
    env = dict(os.environ)
    paths = [os.path.dirname(HERE)]
    import importlib.util
    spec = importlib.util.find_spec("dlcore")
    if spec and spec.origin:
        paths.append(os.path.dirname(os.path.dirname(spec.origin)))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("OMP_NUM_THREADS", "2")
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def run_batch(seed, start, stop, diff=False, skip_known=True, call_timeout=30.0, memory_limit=MEMORY_LIMIT):
    """Runs calls [start, stop) in a fresh worker process; kills it when one call takes too long."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dlfuzz") as tmp:
        prog, evp, errp = (os.path.join(tmp, n) for n in ("progress", "events", "stderr"))
        open(prog, "w").close()
        cmd = [sys.executable, "-m", "fuzz.engine", str(seed), str(start), str(stop), "1" if diff else "0",
               "1" if skip_known else "0", prog, evp, str(memory_limit)]
        with open(errp, "w") as err:
            proc = subprocess.Popen(cmd, env=_child_env(), stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            last_seen, last_change, hung = None, time.time(), False
            while proc.poll() is None:
                time.sleep(0.05)
                cur = _last_line(prog)
                if cur != last_seen:
                    last_seen, last_change = cur, time.time()
                elif time.time() - last_change > call_timeout + (10 if cur is None else 0):
                    hung = True
                    os.killpg(proc.pid, signal.SIGKILL)   # the worker's own process group
                    proc.wait()
                    break
        rc = proc.returncode
        events, counts = [], {}
        if os.path.exists(evp):
            with open(evp) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e["kind"] == "done":
                        counts = e["counts"]
                    else:
                        events.append(e)
        cur = _last_line(prog)
        last = int(cur) if cur is not None else -1
        with open(errp) as f:
            stderr = f.read()[-3000:]
    secs = time.time() - t0
    if hung:
        return BatchResult("hang", last, f"no progress for {call_timeout:.0f} s", events, counts, secs)
    if rc == 0 and counts:
        return BatchResult("ok", last, "", events, counts, secs)
    if rc is not None and rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return BatchResult("crash", last, name + "\n" + _tail(stderr), events, counts, secs)
    return BatchResult("crash", last, f"exit code {rc}\n" + _tail(stderr), events, counts, secs)


def _tail(text, n=12):
    return "\n".join(text.strip().splitlines()[-n:])


def _last_line(path):
    try:
        with open(path, "rb") as f:
            data = f.read().split(b"\n")
    except OSError:
        return None
    data = [d for d in data if d.strip()]
    return data[-1].decode() if data else None


@dataclass
class Finding:
    kind: str              # crash / hang
    signal: str
    seed: int
    index: int
    spec: str
    op: str
    reproducer: str
    stderr: str = ""
    prefix: int = 0        # earlier calls the reproducer needs (0: the call alone crashes)

    @property
    def key(self):
        return (self.kind, self.signal, self.spec, self.op)


@dataclass
class Report:
    calls: int = 0
    counts: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    events: list = field(default_factory=list)
    seconds: float = 0.0

    def add_counts(self, counts):
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v

    def of_kind(self, kind):
        return [e for e in self.events if e["kind"] == kind]


def _isolate(seed, k, batch_start, first, diff, skip_known, call_timeout, memory_limit):
    """The shortest replay (call k alone, or with some of the calls before it) that fails again."""
    def fails(lo):
        r = run_batch(seed, lo, k + 1, diff, skip_known, call_timeout, memory_limit)
        return r if r.status in ("crash", "hang") and r.last == k else None

    r = fails(k)
    if r:
        return r, 0
    back = 1
    while k - back >= batch_start and back <= 64:
        r = fails(k - back)
        if r:
            return r, back
        back *= 4
    return first, -1   # not reproducible on replay (flaky)


def run_fuzz(seed, calls, start=0, diff=False, batch=250, call_timeout=30.0, skip_known=True,
             memory_limit=MEMORY_LIMIT, log=None, on_finding=None):
    """Runs calls [start, start + calls) of `seed` in worker batches; returns a Report."""
    rep = Report(calls=calls)
    t0 = time.time()
    i, end = start, start + calls
    while i < end:
        stop = min(i + batch, end)
        r = run_batch(seed, i, stop, diff, skip_known, call_timeout, memory_limit)
        rep.events.extend(r.events)
        rep.add_counts(r.counts)
        if r.status == "ok":
            if log:
                log(f"seed {seed} calls [{i}, {stop}) ok in {r.seconds:.1f}s: {r.counts}")
            i = stop
            continue
        k = r.last if r.last >= i else i
        rep.add_counts({"run": max(k - i + 1, 0)})
        rr, prefix = _isolate(seed, k, i, r, diff, skip_known, call_timeout, memory_limit)
        call = make_call(seed, k, diff)
        chain = [make_call(seed, j, diff) for j in range(k - max(prefix, 0), k + 1)]
        sig = rr.detail.splitlines()[0] if rr.detail else r.status
        text = reproducer(chain)
        if prefix == 0:
            text = shrink(call, rr.status, sig, rr.detail, call_timeout, memory_limit)
        f = Finding(rr.status, sig, seed, k, call.spec, call.op, text, _tail(rr.detail, 10), prefix)
        rep.findings.append(f)
        if log:
            log(f"seed {seed} call {k}: {f.kind} ({f.signal}) in spec {f.spec} [{f.op}]"
                + ("" if prefix == 0 else " (needs earlier calls)" if prefix > 0 else " (not reproducible alone)"))
        if on_finding:
            on_finding(f)
        i = k + 1
    rep.seconds = time.time() - t0
    return rep


def run_parallel(seed, calls, jobs=1, **kw):
    """Splits [0, calls) into `jobs` contiguous ranges run side by side; merges the reports."""
    if jobs <= 1:
        return run_fuzz(seed, calls, **kw)
    parts = [(j * calls // jobs, (j + 1) * calls // jobs) for j in range(jobs)]
    reports = [None] * jobs
    lock = threading.Lock()
    kw = dict(kw)
    kw.pop("start", None)
    if kw.get("on_finding"):
        inner = kw["on_finding"]

        def guarded(f):
            with lock:
                inner(f)
        kw["on_finding"] = guarded

    def one(j):
        a, b = parts[j]
        reports[j] = run_fuzz(seed, b - a, start=a, **kw)

    threads = [threading.Thread(target=one, args=(j,)) for j in range(jobs)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = Report(calls=calls)
    for r in reports:
        rep.add_counts(r.counts)
        rep.findings.extend(r.findings)
        rep.events.extend(r.events)
    rep.seconds = time.time() - t0
    return rep


def dedup_findings(findings):
    """One finding per (kind, signal, spec, op), the shortest reproducer kept."""
    best = {}
    for f in findings:
        if f.key not in best or len(f.reproducer) < len(best[f.key].reproducer):
            best[f.key] = f
    return list(best.values())


def dedup_events(events, kind):
    best = {}
    for e in events:
        if e["kind"] != kind:
            continue
        key = (e["spec"], e["op"], (e.get("detail") or e.get("error") or "")[:30] if kind == "odd" else
               (e.get("dlcore", "")[:40], e.get("torch", "")[:40]) if kind == "disagree" else "")
        if key not in best or len(e["source"]) < len(best[key]["source"]):
            best[key] = e
    return list(best.values())


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
