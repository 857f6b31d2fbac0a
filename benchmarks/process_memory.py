"""Peak memory of the current process, as the benchmarks report it.

`resource.getrusage(...).ru_maxrss` is not used: Linux carries a parent's peak into a child across fork
and exec, so a child started by a large parent reports the parent's peak. VmHWM belongs to this
process's own address space.
"""

from __future__ import annotations


def peak_rss_mb() -> float:
    """This process's peak resident set so far (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
