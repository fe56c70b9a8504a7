#!/usr/bin/env python3
"""Seeded fuzzer for dlcore (engine in tests/fuzz/).

    python tools/fuzz.py --calls 5000 --seed 1                # crashes / hangs
    python tools/fuzz.py --calls 2000 --seed 1 --diff         # + compare with torch
    python tools/fuzz.py --seed 1 --replay 1234               # print the reproducer of call 1234

Each batch of calls runs in a subprocess (RLIMIT_AS-limited); a crash or hang is replayed to the
single call behind it and printed as a self-contained reproducer. Exit status 1 when a crash or
hang (or, with --diff, a mismatch) was found. Calls matching tests/fuzz/known.py are skipped
unless --no-skip-known.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from fuzz import engine  # noqa: E402


def _block(title, text):
    return f"{title}\n```python\n{text.rstrip()}\n```\n"


def finding_markdown(f):
    how = {0: "the call alone", -1: "NOT reproducible alone (flaky / depends on earlier calls)"}.get(
        f.prefix, f"with the {f.prefix} call(s) before it")
    return (f"### {f.kind.upper()} {f.signal}: spec `{f.spec}`, op `{f.op}`\n"
            f"seed {f.seed}, call {f.index} (reproduces with {how})\n\n"
            + _block("Reproducer:", f.reproducer)
            + (f"\nstderr tail:\n```\n{f.stderr}\n```\n" if f.stderr else "") + "\n")


def event_markdown(e):
    what = e.get("detail") or e.get("error") or f"dlcore: {e.get('dlcore')} / torch: {e.get('torch')}"
    call = engine.Call(e["seed"], e["index"], e["spec"], e["source"], "", True, False)
    return (f"### {e['kind'].upper()}: spec `{e['spec']}`, op `{e['op']}` (seed {e['seed']}, call {e['index']})\n"
            f"{what}\n\n" + _block("Reproducer:", engine.reproducer([call])) + "\n")


def check_known(args):
    """For each KNOWN entry: up to N generated calls that match it, each run alone."""
    from fuzz import known
    samples = {kid: [] for kid, _ in known.KNOWN}
    for i in range(200_000):
        if all(len(v) >= args.check_known for v in samples.values()):
            break
        call = engine.make_call(args.seed, i)
        kid = known.known_match(call)
        if kid and len(samples[kid]) < args.check_known:
            samples[kid].append(call)
    still = 0
    for kid, calls in samples.items():
        bad = []
        for call in calls:
            st, sig = engine.run_script(engine.reproducer([call]), args.timeout,
                                        int(args.memory_limit_gb * (1 << 30)))
            if st != "ok":
                bad.append((call.index, st, sig))
        still += bool(bad)
        verdict = f"STILL CRASHES {len(bad)}/{len(calls)}: {bad[:3]}" if bad else f"ok 0/{len(calls)} crash"
        print(f"{kid:40s} {verdict}", flush=True)
    return 1 if still else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first call index")
    ap.add_argument("--diff", action="store_true", help="compare valid calls with torch")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes side by side")
    ap.add_argument("--batch", type=int, default=250, help="calls per worker process")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds one call may take (else: hang)")
    ap.add_argument("--memory-limit-gb", type=float, default=8.0, help="RLIMIT_AS of a worker (0: none)")
    ap.add_argument("--no-skip-known", action="store_true", help="also run calls matching known.KNOWN")
    ap.add_argument("--findings", help="append crashes/hangs/mismatches (markdown) to this file")
    ap.add_argument("--replay", type=int, help="print the reproducer of this call index and exit")
    ap.add_argument("--check-known", type=int, metavar="N", default=0,
                    help="run N sample calls of every KNOWN entry and say which still crash, then exit")
    ap.add_argument("--show", type=int, default=5, help="reproducers shown per event class")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    if args.replay is not None:
        call = engine.make_call(args.seed, args.replay, args.diff)
        print(f"# spec {call.spec}, op {call.op}, invalid={call.invalid}, tol={call.tol}")
        print(engine.reproducer([call]))
        return 0

    if args.check_known:
        return check_known(args)

    def on_finding(f):
        if args.findings:
            with open(args.findings, "a") as fh:
                fh.write(finding_markdown(f))

    log = None if args.quiet else (lambda m: print(m, flush=True))
    rep = engine.run_parallel(args.seed, args.calls, jobs=args.jobs, start=args.start, diff=args.diff,
                              batch=args.batch, call_timeout=args.timeout,
                              skip_known=not args.no_skip_known,
                              memory_limit=int(args.memory_limit_gb * (1 << 30)), log=log, on_finding=on_finding)
    findings = engine.dedup_findings(rep.findings)
    mismatches = engine.dedup_events(rep.events, "mismatch")
    disagree = engine.dedup_events(rep.events, "disagree")
    odd = engine.dedup_events(rep.events, "odd")
    if args.findings:
        with open(args.findings, "a") as fh:
            for e in mismatches:
                fh.write(event_markdown(e))

    print(f"\n=== seed {args.seed}: {args.calls} calls in {rep.seconds:.0f}s: {rep.counts}")
    print(f"crashes/hangs: {len(rep.findings)} ({len(findings)} distinct)")
    for f in findings:
        print("\n" + finding_markdown(f))
    if args.diff:
        print(f"mismatches: {len(rep.of_kind('mismatch'))} ({len(mismatches)} distinct)")
        for e in mismatches[:args.show]:
            print("\n" + event_markdown(e))
        print(f"disagreements (informational): {len(rep.of_kind('disagree'))} ({len(disagree)} distinct)")
        for e in disagree[:args.show]:
            print(f"  [{e['spec']}/{e['op']}] dlcore: {e['dlcore']} | torch: {e['torch']}  (call {e['index']})")
    if odd:
        print(f"unexpected exception types (informational): {len(rep.of_kind('odd'))} ({len(odd)} distinct)")
        for e in odd[:args.show]:
            print(f"  [{e['spec']}/{e['op']}] {e['error']}  (call {e['index']})")
    failed = bool(rep.findings) or (args.diff and mismatches)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
