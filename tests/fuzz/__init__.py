"""A seeded fuzzer for dlcore: random valid and invalid calls of every registered op, run in
subprocess batches; crashes and hangs are isolated to one call with a reproducer, and ``--diff``
compares results with torch. Entry points: tools/fuzz.py and tests/fuzz/test_fuzz.py."""
