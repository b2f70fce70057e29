#!/usr/bin/python3
"""Kills one rank of a ckptmpi job with SIGKILL at an exact point of its work, from outside the program.

usage: kill_rank.py RANK MODE N OUT_DIR OUTPUTS -- command...

Run under mpiexec in front of the real command. On every rank but RANK (OMPI_COMM_WORLD_RANK or PMI_RANK; 0 in a
plain process) it just runs the command. On RANK it runs the command under strace, which stops the whole process
(SIGSTOP) right after each system call that touches the rank's journal or an output temporary file (OUTPUTS lists
the output files, one relative path first on each line, e.g. a manifest listing). At each stop the condition of MODE
is checked on the files themselves; the rank is SIGKILLed there if it holds, and continued (SIGCONT) otherwise, so
the kill lands at the same point of the work on every run, however fast the disk:

  pieces    N journal lines written, the next piece not started (N=0: the journal was just opened)
  torn      N journal lines written and the next piece's bytes (partly) written, but not its journal line
  renames   rank 0 in the commit, once N output files carry their final names
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

TIMEOUT = 300


def main():
    victim, mode, n, out, listing = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    command = sys.argv[7:] if sys.argv[6] == "--" else sys.exit("usage: kill_rank.py RANK MODE N OUT_DIR OUTPUTS -- command...")
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("PMI_RANK") or 0)
    if rank != int(victim):
        os.execvp(command[0], command)

    out = os.path.abspath(out)
    journal = f"{out}/.ckptmpi-journal/rank-{rank:05d}.jsonl"
    finals = [f"{out}/{line.split()[0]}" for line in open(listing) if line.strip()]
    temps = {p + ".tmp" for p in finals}
    calls = "rename,renameat,renameat2" if mode == "renames" else "openat,pwrite64"
    watched = temps if mode == "renames" else temps | {journal}

    work = tempfile.mkdtemp(prefix="kill-rank.")
    log, pidfile = f"{work}/strace.log", f"{work}/pid"
    paths = [a for p in sorted(watched) for a in ("-P", p)]
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-y", "-o", log, "-e", f"trace={calls}",
                               "-e", f"inject={calls}:signal=STOP", *paths, "--",
                               "sh", "-c", 'echo $$ > "$0"; exec "$@"', pidfile, *command],
                              close_fds=False)  # MPICH's PMI socket (PMI_FD) must reach the rank

    def journal_lines():
        try:
            with open(journal, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return -1

    def holds(call, path):
        if mode == "pieces":
            return path == journal and journal_lines() == n
        if mode == "torn":
            return call == "pwrite64" and path in temps and journal_lines() == n
        return sum(os.path.exists(p) for p in finals) == n

    # strace pads thread ids to a column ("334   openat(...)"): never assume one space.
    done = re.compile(r"^(\d+)\s+(?:(\w+)\(.*|<\.\.\. (\w+) resumed>.*) = -?\d+(?:<([^>]*)>)?")
    written_to = re.compile(r"^\d+\s+(?:pwrite64\(|<\.\.\. pwrite64 resumed>)\d+<([^>]*)>")
    stopped = re.compile(r"^(\d+)\s+--- stopped by SIGSTOP ---")
    deadline = time.monotonic() + TIMEOUT
    pending = None  # (tid, call, path) of the last traced call, until its thread reports the stop
    with open_when_created(log, tracer) as f:
        while tracer.poll() is None and time.monotonic() < deadline:
            line = f.readline()
            if not line.endswith("\n"):
                if line:
                    f.seek(f.tell() - len(line))
                time.sleep(0.002)
                continue
            m = done.match(line)
            if m and (m.group(2) or m.group(3)) in calls.split(","):
                call = m.group(2) or m.group(3)
                w = written_to.match(line)
                pending = (m.group(1), call, w.group(1) if w else m.group(4))
                continue
            s = stopped.match(line)
            if pending and s and s.group(1) == pending[0]:
                pid = int(open(pidfile).read())
                if holds(pending[1], pending[2]):
                    os.kill(pid, signal.SIGKILL)
                    print(f"kill_rank: rank {rank} SIGKILLed ({mode} {n}) after {pending[1]} on {pending[2]}", file=sys.stderr)
                    tracer.wait()
                    # Die the same way, so the launcher sees a rank killed by a signal (an exit code alone leaves
                    # MPICH's other ranks waiting in their collectives).
                    sys.stderr.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                pending = None
                os.kill(pid, signal.SIGCONT)
    if tracer.poll() is None:
        tracer.kill()
        print(f"kill_rank: no stop of rank {rank} met '{mode} {n}' within {TIMEOUT} s", file=sys.stderr)
        return 98
    print(f"kill_rank: rank {rank} ended (exit {tracer.returncode}) before '{mode} {n}' held", file=sys.stderr)
    return 99


def open_when_created(path, tracer):
    while not os.path.exists(path):
        if tracer.poll() is not None:
            sys.exit(f"kill_rank: strace exited with {tracer.returncode} before writing its log")
        time.sleep(0.002)
    return open(path)


if __name__ == "__main__":
    sys.exit(main())
