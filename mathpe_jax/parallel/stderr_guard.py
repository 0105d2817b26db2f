"""The stderr guard of a multi-process run (see ``distributed``): run as a script with ``python -S``,
standard library only, its stdin the run's file descriptor 2.

Arguments: this process's id, the number of processes, the coordinator, the heartbeat timeout, the
grace in seconds (output still arriving that long after a report of a lost peer means the process
lived on: the report was transient, and the lines kept back are shown after all). It ignores the
signals a job scheduler sends the whole process group, so the run can still report its checkpoint on
SIGTERM, and ends when every writer of the pipe has closed it.
"""
import os, re, signal, sys, time

LOST = re.compile(
    rb"Polled an error from coordination service|stopped sending heartbeats|heartbeat timeout"
    rb"|Terminating process because the JAX distributed service|coordination service has likely died"
    rb"|leader task was preempted/died|Gloo \w+ failed|Connection (closed|reset) by peer"
    rb"|from coordination service: UNAVAILABLE")
TASK = re.compile(rb"Task (\d+) heartbeat timeout")
LISTED = re.compile(rb"^\s*(?:/job:[^/]+/replica:\d+/task:)?(\d+)\s*$")
COORDINATOR_GONE = re.compile(
    rb"leader task was preempted/died|coordination service has likely died"
    rb"|coordination service: UNAVAILABLE: (Socket closed|failed to connect|Connection refused)")
lost, listing, coordinator_gone, ids, held, kept, lost_at = False, False, False, set(), [], [], 0.0


def note(line):
    global listing, coordinator_gone
    ids.update(int(i) for i in TASK.findall(line))
    if listing and LISTED.match(line):
        ids.add(int(LISTED.match(line).group(1)))
        return
    listing = b"stopped sending heartbeats" in line
    coordinator_gone = coordinator_gone or bool(COORDINATOR_GONE.search(line))


def lose(line):
    global lost, lost_at
    lost, lost_at = True, time.monotonic()
    kept.append(line)
    note(line)


def take(line):
    global lost, held, kept
    if lost and time.monotonic() - lost_at > grace:  # the process lived on: show what was kept back
        out.write(b"".join(kept))
        lost, kept = False, []
    if lost:
        kept.append(line)
        note(line)
    elif held:  # inside a Python traceback: its last line decides whether a lost peer caused it
        held.append(line)
        if line[:1] not in (b" ", b"\t", b"\n", b"") and not line.startswith(b"Traceback"):
            if LOST.search(line):
                lose(b"".join(held))
            else:
                out.write(b"".join(held))
                out.flush()
            held = []
    elif line.startswith(b"Traceback (most recent call last):"):
        held = [line]
    elif LOST.search(line):
        lose(line)
    else:
        out.write(line)
        out.flush()


if __name__ == "__main__":
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    me, count, coordinator, heartbeat, grace = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:5], float(sys.argv[5])
    out = sys.stderr.buffer
    rest = b""
    while True:
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            take(line + b"\n")
    if rest:
        take(rest)
    if not lost:
        out.write(b"".join(held))
    else:
        others = sorted(ids - {me})
        if others:
            who = "process " + ", ".join(map(str, others)) + f" of {count} (no heartbeat for {heartbeat} s)"
        elif coordinator_gone or count == 2:
            other = 1 - me if count == 2 else 0
            where = f", the coordinator at {coordinator}" if other == 0 else ""
            who = f"process {other} of {count}{where}"
        else:
            who = "another process of this run (the runtime did not say which)"
        out.write(
            f"error: process {me} of {count}: lost {who}: it stopped or became unreachable; "
            "rerun the job to resume from the last checkpoint\n".encode())
    out.flush()
