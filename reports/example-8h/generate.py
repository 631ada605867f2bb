#!/usr/bin/env python3
"""Writes the recording of reports/example-8h/: a generated 8-hour run at
1 Hz of a pre-fork server (a master and two workers) in which one worker's
heap leaks 6 MB/h under a garbage-collection sawtooth, with the run's
breakdown and per-process rows as memsoak writes them. Deterministic (no
randomness): the same files every time.

    python3 reports/example-8h/generate.py
    cargo run --release -- report reports/example-8h --warmup 48m
"""
import math, os

HERE = os.path.dirname(os.path.abspath(__file__))
HOURS = 8
SECONDS = HOURS * 3600
LEAK = 6e6 / 3600  # bytes per second, worker 2's heap


def worker_anon(t, leaks):
    saw = (t % 90) * 120e3  # the collector frees every 90 s
    wander = math.sin(t / 700.0) * 1.5e6 + math.sin(t * 0.37) * 2e5
    warm = 40e6 * (1 - math.exp(-t / 900.0))  # caches fill in the first hour
    return 60e6 + warm + saw + wander + (LEAK * t if leaks else 0.0)


def main():
    master = 25e6
    with open(os.path.join(HERE, "samples.csv"), "w") as f:
        f.write("elapsed_s,unix_time_s,late_ms,processes,rss_bytes,pss_bytes,anon_bytes,swap_bytes,fds,threads,cpu_percent\n")
        for t in range(SECONDS + 1):
            anon = master + worker_anon(t, False) + worker_anon(t, True)
            rss = anon + 3 * 18e6
            f.write(f"{t},{1795800000 + t},0,3,{int(rss)},{int(anon + 20e6)},{int(anon)},0,{40 + t % 3},{9},{12.5 + (t % 7) * 0.3:.1f}\n")
    with open(os.path.join(HERE, "breakdown.csv"), "w") as f:
        f.write("elapsed_s,series,value\n")
        for t in range(0, SECONDS + 1, 30):
            heap = worker_anon(t, False) + worker_anon(t, True) + master - 3 * 2.5e6 - 3e6
            values = {
                "heap": heap, "stacks": 3 * 2.5e6, "anon_other": 3e6, "file": 3 * 18e6,
                "shmem": 0, "swap": 0, "fds_socket": 24 + t % 3, "fds_pipe": 6, "fds_file": 8,
                "fds_anon_inode": 2, "fds_other": 0, "socket_queue_bytes": 0,
                "socket_send_queue_bytes": 0, "socket_recv_queue_bytes": 0, "connections": 20,
            }
            for name, v in values.items():
                f.write(f"{t},{name},{int(v)}\n")
    with open(os.path.join(HERE, "processes.csv"), "w") as f:
        f.write("elapsed_s,pid,start_s,name,rss_bytes,anon_bytes,pss_bytes,command\n")
        procs = [
            (4101, "gunicorn", lambda t: master, '["gunicorn","app:app","-w","2"]'),
            (4107, "gunicorn", lambda t: worker_anon(t, False), '["gunicorn","app:app","-w","2"]'),
            (4108, "gunicorn", lambda t: worker_anon(t, True), '["gunicorn","app:app","-w","2"]'),
        ]
        for t in range(0, SECONDS + 1, 10):
            for pid, name, anon, command in procs:
                a = anon(t)
                cmd = '"' + command.replace('"', '""') + '"' if t == 0 else ""
                f.write(f"{t},{pid},1000.5,{name},{int(a + 18e6)},{int(a)},,{cmd}\n")


if __name__ == "__main__":
    main()
