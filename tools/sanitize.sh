#!/usr/bin/env bash
# Builds the extension with AddressSanitizer + UndefinedBehaviorSanitizer into build/sanitize
# (its own CMake/Ninja tree, CMake option DLCORE_SANITIZE) and runs the CPU tests under them.
#
#   tools/sanitize.sh                          # the whole CPU suite (pytest -m "not cuda" tests)
#   tools/sanitize.sh tests/test_tensor.py -x  # arguments go to pytest as they are
#   SANITIZE_KEEP_GOING=1 tools/sanitize.sh    # log every report and go on (a sweep)
#
# Exit status: 1 when any sanitizer report was written (a summary of the distinct ones, with
# their top frames and the test that triggered each, is printed and kept in
# build/sanitize/logs/summary.txt), otherwise pytest's. The full reports are in
# build/sanitize/logs/{asan,ubsan}.<pid>.
#
# Build (CMake: DLCORE_SANITIZE=address,undefined):
#   -fsanitize=address,undefined -fno-omit-frame-pointer -g, at -O1 (CMAKE_BUILD_TYPE
#   RelWithDebInfo with its flags set to "-O1 -g -DNDEBUG": usable speed, exact stacks).
#   Compiled recoverable (-fsanitize-recover=all); whether a report aborts is decided at run
#   time by halt_on_error below, so UB fails loudly by default but a sweep can go on.
#   CUDA is off. All three CPU capability levels are built, as in a normal build: the suite
#   runs on the best one this CPU has, and (as .ci/run does) without arguments the script then
#   runs tests/test_optable.py again with DLCORE_CPU_CAPABILITY=default and =avx2, so the
#   lower builds' kernels run under the sanitizers too; tests/test_linalg.py also starts a
#   DEFAULT-level process. SANITIZE_CPU_LEVEL=default|avx2|avx512 builds only that level
#   (DLCORE_SANITIZE_CPU_LEVELS; about a third less compiling) and sets DLCORE_CPU_CAPABILITY
#   to it: quicker to build, but then tests that select another level fail
#   (test_linalg.py::test_default_capability_build_matches unless the level is default).
#   SANITIZE_JOBS (default 2) is ninja's -j. SANITIZE_NO_BUILD=1 runs the tests on the
#   existing build (give the SANITIZE_CPU_LEVEL it was built with).
#
# Run time:
#   - python is not instrumented, so the ASan runtime must be the first library loaded:
#     LD_PRELOAD=<the libasan the extension links> (libubsan then comes in as a normal
#     dependency of the extension). With it first, verify_asan_link_order is not needed.
#     libstdc++ is preloaded right after it: python does not link it, and ASan resolves the
#     real __cxa_throw when it starts, so without it the first C++ exception thrown by the
#     extension dies in "CHECK failed: asan_interceptors.cpp ... real___cxa_throw != 0".
#     ASan then intercepts malloc for the whole process: numpy and torch (imported by the
#     tests) run on ASan's allocator, which works, only slower; torch in the same process
#     needs nothing else (its libgomp copy and allocator run fine under the preload).
#     PYTHONMALLOC is left at pymalloc (Python objects are not checked;
#     SANITIZE_PYTHONMALLOC=malloc checks them too, much slower).
#   - ASAN_OPTIONS: detect_leaks=0 (CPython and torch keep memory until exit by design, so
#     LeakSanitizer would report thousands of non-bugs); allocator_may_return_null=1 (an
#     impossible allocation returns NULL -> MemoryError as without ASan, instead of ASan
#     aborting, so tests that expect MemoryError for giant shapes behave); abort_on_error=1
#     (SIGABRT, so pytest's faulthandler prints the Python stack of the test that hit it);
#     halt_on_error=1 unless SANITIZE_KEEP_GOING=1; log_path (reports go to files: pytest
#     captures fds 1/2 and drops what a passing test printed); strip_path_prefix (short paths).
#   - UBSAN_OPTIONS: print_stacktrace=1, the same halt/abort/log_path choices.
#   - OpenMP (libgomp) needs nothing: its threads are created through the intercepted
#     pthread_create. Extra options in the environment are appended to ours (later wins).
#   - tests/fuzz is left out: its workers run under RLIMIT_AS (8 GiB) and ASan, which reserves
#     terabytes of shadow address space, cannot start under it ("ERROR: Failed to mmap"). Fuzz
#     under ASan with the same environment and tools/fuzz.py --memory-limit-gb 0.
#   - A small pytest plugin (written into build/sanitize) records the test that is running,
#     and after each test turns new report text in the log files into a failure of that test
#     (so SANITIZE_KEEP_GOING=1 attributes every report to its test); the summary groups the
#     reports by kind and location.
set -uo pipefail
start=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${SANITIZE_BUILD_DIR:-$root/build/sanitize}
logdir=$dir/logs

# ---- capability level ---------------------------------------------------------------------
level=${SANITIZE_CPU_LEVEL:-all}
if [ "$level" = all ]; then
  cpu_levels=""
else
  case "$level" in default|avx2|avx512) ;; *) echo "SANITIZE_CPU_LEVEL: default, avx2, avx512 or all" >&2; exit 2 ;; esac
  cpu_levels=$(echo "$level" | tr a-z A-Z)
  export DLCORE_CPU_CAPABILITY=$level
fi

# ---- build ----------------------------------------------------------------------------------
if [ "${SANITIZE_NO_BUILD:-0}" != 1 ]; then
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" \
  -DDLCORE_SANITIZE=address,undefined -DDLCORE_SANITIZE_CPU_LEVELS="$cpu_levels" -DDLCORE_CUDA=OFF \
  -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DPython_EXECUTABLE="$(command -v python3)" >"$dir.cmake.log" 2>&1 \
  || { cat "$dir.cmake.log"; exit 2; }
ninja -C "$dir" -j"${SANITIZE_JOBS:-2}" _C || exit 2
fi
ext=$(ls "$dir"/_C*.so | head -1)
asan=$(ldd "$ext" | awk '/libasan/ {print $3}')
stdcxx=$(ldd "$ext" | awk '/libstdc\+\+/ {print $3}')
[ -f "$asan" ] && [ -f "$stdcxx" ] || { echo "sanitize: no libasan/libstdc++ among the libraries of $ext" >&2; exit 2; }
built=$(date +%s)

# ---- run ------------------------------------------------------------------------------------
rm -rf "$logdir" && mkdir -p "$logdir"
if [ "${SANITIZE_KEEP_GOING:-0}" = 1 ]; then halt=0; else halt=1; fi
common="halt_on_error=$halt:abort_on_error=1:strip_path_prefix=$root/"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:$common:log_path=$logdir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:$common:log_path=$logdir/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LD_PRELOAD="$asan:$stdcxx${LD_PRELOAD:+:$LD_PRELOAD}"
[ -n "${SANITIZE_PYTHONMALLOC:-}" ] && export PYTHONMALLOC=$SANITIZE_PYTHONMALLOC
export DLCORE_EXT_DIR=$dir DLCORE_SANITIZE_LOGDIR=$logdir
export PYTHONPATH="$root/python:$dir${PYTHONPATH:+:$PYTHONPATH}"

cat >"$dir/dlcore_sanitize_plugin.py" <<'EOF'
"""pytest plugin of tools/sanitize.sh (generated): records the running test and fails a test
whose run added text to the sanitizer logs (asan.<pid>, ubsan.<pid>)."""
import glob
import os

import pytest

LOGDIR = os.environ["DLCORE_SANITIZE_LOGDIR"]
_seen = {}
TAG = f" [DLCORE_CPU_CAPABILITY={os.environ['DLCORE_CPU_CAPABILITY']}]" if os.environ.get("DLCORE_CPU_CAPABILITY") else ""


def pytest_sessionstart(session):
    # Logs of an earlier pytest run of the same script are not this run's.
    for path in glob.glob(os.path.join(LOGDIR, "*san.*")):
        _seen[path] = os.path.getsize(path)


def _new_text():
    found = []
    for path in sorted(glob.glob(os.path.join(LOGDIR, "*san.*"))):
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        old = _seen.get(path, 0)
        if size > old:
            with open(path, "rb") as f:
                f.seek(old)
                text = f.read(size - old).decode(errors="replace")
            found.append((path, old, size, text))
            _seen[path] = size
    return found


def pytest_runtest_logstart(nodeid, location):
    with open(os.path.join(LOGDIR, "current_test"), "w") as f:
        f.write(nodeid + TAG)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    found = _new_text()
    if not found:
        return
    with open(os.path.join(LOGDIR, "attribution.tsv"), "a") as f:
        for path, begin, end, _ in found:
            f.write(f"{os.path.basename(path)}\t{begin}\t{end}\t{item.nodeid}{TAG}\n")
    rep = outcome.get_result()
    rep.outcome = "failed"
    rep.longrepr = "sanitizer report(s) during " + call.when + ":\n" + "".join(t for *_, t in found)
EOF

echo "sanitize: running pytest under ASan+UBSan (levels ${level}, logs in ${logdir#$root/})"
pytest() { python3 -m pytest -q -m "not cuda" --ignore=tests/fuzz -p dlcore_sanitize_plugin "$@"; }
pytest "$@"
rc=$?
if [ $# -eq 0 ] && [ "$level" = all ] && [ "${SANITIZE_KEEP_GOING:-0}" = 1 -o $rc -lt 6 ]; then
  for cap in default avx2; do
    echo "sanitize: tests/test_optable.py with DLCORE_CPU_CAPABILITY=$cap"
    DLCORE_CPU_CAPABILITY=$cap pytest tests/test_optable.py
    r=$?; [ $rc -eq 0 ] && rc=$r
  done
fi
end=$(date +%s)

# ---- summary --------------------------------------------------------------------------------
python3 - "$logdir" "$rc" <<'EOF'
import collections, glob, os, re, sys

logdir, rc = sys.argv[1], int(sys.argv[2])
attrib = collections.defaultdict(list)  # file -> [(begin, end, test)]
if os.path.exists(os.path.join(logdir, "attribution.tsv")):
    for line in open(os.path.join(logdir, "attribution.tsv")):
        name, b, e, test = line.rstrip("\n").split("\t", 3)
        attrib[name].append((int(b), int(e), test))
current = ""
if os.path.exists(os.path.join(logdir, "current_test")):
    current = open(os.path.join(logdir, "current_test")).read().strip()

def test_of(name, offset):
    for b, e, test in attrib[name]:
        if b <= offset < e:
            return test
    return (current + " (last test started: unattributed)") if current else "(outside any test)"

start_re = re.compile(r"^(==\d+==ERROR: \w+Sanitizer: .*|\w+Sanitizer: CHECK failed.*|.*:\d+:\d+: runtime error: .*|==\d+==\w+Sanitizer: .*)$", re.M)
frame_re = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+ in (.*)$", re.M)
groups = collections.OrderedDict()
for path in sorted(glob.glob(os.path.join(logdir, "*san.*"))):
    name = os.path.basename(path)
    text = open(path, "rb").read().decode(errors="replace")
    # Byte offsets are what the plugin recorded; map characters to bytes via utf-8 lengths.
    starts = [m.start() for m in start_re.finditer(text)]
    for i, s in enumerate(starts):
        body = text[s:starts[i + 1] if i + 1 < len(starts) else len(text)]
        head = body.splitlines()[0]
        frames = [f for _, f in frame_re.findall(body)]
        if "runtime error:" in head:
            loc, msg = head.split(": runtime error: ", 1)
            kind = "UBSan: " + re.sub(r"-?\b\d+\b", "N", re.sub(r"0x[0-9a-f]+", "ADDR", msg))
        else:
            m = re.search(r"Sanitizer: ([\w-]+)", head)
            kind = "ASan: " + (m.group(1) if m else head)
            ours = [f for f in frames if "cpp/" in f] or frames
            loc = ours[0].split(" ")[-1] if ours else "?"
        key = (kind, loc)
        g = groups.setdefault(key, {"count": 0, "tests": [], "frames": frames[:8], "first": (name, head)})
        g["count"] += 1
        t = test_of(name, len(text[:s].encode()))
        if t not in g["tests"]:
            g["tests"].append(t)

out = []
if groups:
    out.append(f"SANITIZER: {sum(g['count'] for g in groups.values())} report(s), {len(groups)} distinct")
    for i, ((kind, loc), g) in enumerate(groups.items(), 1):
        out.append(f"\n[{i}] {kind}\n    at {loc}  ({g['count']}x, first in {g['first'][0]})")
        out.append(f"    {g['first'][1].strip()}")
        for f in g["frames"]:
            out.append(f"      {f}")
        more = f" (+{len(g['tests']) - 5} more)" if len(g["tests"]) > 5 else ""
        out.append("    tests: " + ", ".join(g["tests"][:5]) + more)
else:
    out.append("SANITIZER: no reports")
    if rc not in (0, 5):
        out.append(f"(pytest exited {rc}" + (f"; last test started: {current})" if rc < 0 or rc > 5 else ")"))
text = "\n".join(out)
open(os.path.join(logdir, "summary.txt"), "w").write(text + "\n")
print("\n" + "=" * 30 + " sanitizer summary " + "=" * 30 + "\n" + text)
sys.exit(1 if groups else 0)
EOF
found=$?
echo "sanitize: build $((built - start)) s, tests $((end - built)) s (pytest exit $rc)"
[ $found -ne 0 ] && exit 1
exit $rc
