"""memsoak's tracemalloc hook, loaded by Python as `sitecustomize`.

memsoak writes this file into the run folder and puts its folder first on
the launched target's PYTHONPATH, so every Python process of the tree (the
server, `--workers`, multiprocessing children) loads it at start-up. It
starts tracemalloc and a daemon thread that polls a control file named by
MEMSOAK_TRACEMALLOC_DIR (no signal is taken from the application):

- `baseline`: collect garbage, count live objects per type, snapshot
  (kept in memory: a snapshot written to disk and freed would hand its
  memory back at some unknown moment of the window, a drop the verdict
  would see); writes `<pid>.baseline.json` as an acknowledgement;
- `final`: the same again, then `<pid>.json` with the sites that grew
  between the two snapshots (grouped by traceback, innermost frame first),
  the types that gained objects, and the garbage collector's counts.

Any `sitecustomize` this one shadows is imported too. A failure here is
printed on stderr and never stops the application.
"""

import os
import sys


def _chain_shadowed():
    """Imports the `sitecustomize` further down sys.path, if any."""
    import importlib

    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        importlib.import_module("sitecustomize")
    except ModuleNotFoundError as e:
        if e.name != "sitecustomize":
            print("memsoak hook: the shadowed sitecustomize failed: %r" % e, file=sys.stderr)
    except Exception as e:  # the application's own hook must not stop it
        print("memsoak hook: the shadowed sitecustomize failed: %r" % e, file=sys.stderr)
    finally:
        sys.path[:] = saved
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def _start(folder):
    import gc
    import json
    import threading
    import time
    import tracemalloc

    frames = int(os.environ.get("MEMSOAK_TRACEMALLOC_FRAMES", "5"))
    top = int(os.environ.get("MEMSOAK_TRACEMALLOC_TOP", "20"))
    poll = float(os.environ.get("MEMSOAK_TRACEMALLOC_POLL", "0.25"))
    control = os.path.join(folder, "control")
    if not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    # Allocations made by the hook itself and by the import machinery are
    # not the application's.
    hidden = [
        tracemalloc.Filter(False, __file__),
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "<unknown>"),
    ]
    state = {"done": 0, "baseline": None, "types": None, "gc": None}

    def write_json(name, value):
        path = os.path.join(folder, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)

    def type_counts():
        """Live objects per type: those the collector tracks, and the dicts
        and tuples it does not track (CPython untracks a dict holding only
        strings and numbers) found one reference away from a tracked one."""
        counts = {}

        def add(t):
            module = getattr(t, "__module__", "builtins")
            if module == "tracemalloc":  # the hook's own snapshots
                return
            name = t.__qualname__ if module == "builtins" else module + "." + t.__qualname__
            counts[name] = counts.get(name, 0) + 1

        # The baseline snapshot's own list of traces is not the app's.
        skip = set()
        snap = state["baseline"]
        if snap is not None:
            skip = {id(snap), id(snap.traces), id(getattr(snap.traces, "_traces", None))}
        untracked = set()
        for o in gc.get_objects():
            if id(o) in skip:
                continue
            add(type(o))
            for r in gc.get_referents(o):
                t = type(r)
                if (t is dict or t is tuple) and not gc.is_tracked(r) and id(r) not in untracked:
                    untracked.add(id(r))
                    add(t)
        return counts

    def gc_counts():
        return len(gc.garbage), sum(s.get("uncollectable", 0) for s in gc.get_stats())

    functions = {}

    def function_at(filename, line):
        """The innermost `def` around a line, from the source (tracemalloc
        records file and line only)."""
        import ast

        defs = functions.get(filename)
        if defs is None:
            defs = []
            try:
                with open(filename, "rb") as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        defs.append((node.lineno, getattr(node, "end_lineno", node.lineno), node.name))
            except Exception:
                pass
            functions[filename] = defs
        best = None
        for start, end, name in defs:
            if start <= line <= end and (best is None or start >= best[0]):
                best = (start, name)
        return best[1] if best else "<module>"

    import sysconfig

    libraries = tuple(
        os.path.join(os.path.realpath(p), "")
        for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        if p
    )

    def is_library(filename):
        if filename.startswith("<"):
            return True
        path = os.path.realpath(filename)
        return path.startswith(libraries) or "/site-packages/" in path or "/dist-packages/" in path

    def identity():
        try:
            with open("/proc/self/comm") as f:
                name = f.read().strip()
        except OSError:
            name = os.path.basename(sys.executable)
        # No argv: a command line can hold a secret memsoak must not write.
        return {"pid": os.getpid(), "name": name}

    def baseline():
        gc.collect()
        # Objects are counted before the snapshot, which is made of objects.
        state["types"] = type_counts()
        state["gc"] = gc_counts()
        state["baseline"] = tracemalloc.take_snapshot().filter_traces(hidden)
        # tracemalloc's own records (a trace per live allocation): what the
        # target holds because it is traced.
        state["own"] = tracemalloc.get_tracemalloc_memory()
        ack = identity()
        ack["traced_bytes"] = tracemalloc.get_traced_memory()[0]
        write_json("%d.baseline.json" % os.getpid(), ack)

    def final():
        if state["baseline"] is None:
            return
        started = time.monotonic()
        collected = gc.collect()
        after = type_counts()
        garbage, uncollectable = gc_counts()
        # Before the snapshot, whose own objects are not the window's.
        own_grown = tracemalloc.get_tracemalloc_memory() - state["own"]
        snapshot = tracemalloc.take_snapshot().filter_traces(hidden)
        diffs = snapshot.compare_to(state["baseline"], "traceback")
        grown = sorted((d for d in diffs if d.size_diff > 0), key=lambda d: -d.size_diff)
        sites = []
        for d in grown[:top]:
            # tracemalloc orders a traceback oldest first.
            frames = list(reversed(list(d.traceback)))
            # The application's own line first: leading frames in the
            # standard library or installed packages (json's decoder under
            # json.loads) are dropped, unless every frame is theirs.
            first = next((i for i, fr in enumerate(frames) if not is_library(fr.filename)), 0)
            sites.append({
                "bytes": d.size_diff,
                "count": d.count_diff,
                "frames": [
                    {"function": function_at(fr.filename, fr.lineno), "file": fr.filename, "line": fr.lineno}
                    for fr in frames[first:]
                ],
            })
        before = state["types"]
        types = sorted(
            ({"type": t, "count_delta": n - before.get(t, 0)} for t, n in after.items()),
            key=lambda x: -x["count_delta"],
        )
        result = identity()
        result.update({
            "sites": sites,
            "types": [t for t in types[:top] if t["count_delta"] > 0],
            "gc": {
                "garbage_baseline": state["gc"][0],
                "garbage_final": garbage,
                "uncollectable_baseline": state["gc"][1],
                "uncollectable_final": uncollectable,
                "collected_final": collected,
            },
            "total_bytes": sum(d.size_diff for d in diffs),
            "tracer_grown_bytes": own_grown,
            "seconds": time.monotonic() - started,
        })
        state["baseline"] = None
        write_json("%d.json" % os.getpid(), result)

    def loop():
        while True:
            time.sleep(poll)
            try:
                with open(control) as f:
                    commands = f.read().split()
            except OSError:
                continue
            while state["done"] < len(commands):
                command = commands[state["done"]]
                state["done"] += 1
                try:
                    if command == "baseline":
                        baseline()
                    elif command == "final":
                        final()
                except Exception as e:
                    print("memsoak hook: %s failed in pid %d: %r" % (command, os.getpid(), e),
                          file=sys.stderr)
                    try:
                        result = identity()
                        result["error"] = "%s failed: %r" % (command, e)
                        write_json("%d.json" % os.getpid(), result)
                    except Exception:
                        pass

    def start_thread():
        threading.Thread(target=loop, name="memsoak-tracemalloc", daemon=True).start()

    start_thread()
    # A forked child (gunicorn, multiprocessing's fork) has no threads but
    # the one that forked: it gets its own poller, keeping what is done.
    os.register_at_fork(after_in_child=start_thread)


_folder = os.environ.get("MEMSOAK_TRACEMALLOC_DIR")
if _folder:
    try:
        _start(_folder)
    except Exception as _e:
        print("memsoak hook: tracemalloc not started: %r" % (_e,), file=sys.stderr)
_chain_shadowed()
