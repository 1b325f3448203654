"""How long idle OpenMP threads spin: fastcrl's default, set where the OpenMP runtime reads it.

libgomp reads ``GOMP_SPINCOUNT`` / ``OMP_WAIT_POLICY`` once, when it is loaded, which is when the
extension is imported.  Its own default spins a waiting thread 300,000 times (milliseconds) before
it sleeps.  Searches such as GES open tens of thousands of short parallel regions with serial work
between them, and on a machine whose other cores are busy the spinning threads take turns on the
cores away from the thread doing the work: measured on the 2-core development machine, a dense GES
search (d=2000, n=500) took 12.2 s idle and 46.4 s with one other busy process by default, 14.0 s
and 18.9 s with 300 spins, and 16.8 s and 18.2 s with ``OMP_WAIT_POLICY=passive``.  300 spins keep
most of the idle speed and nearly all of the passive policy's robustness, so fastcrl sets it for
its own loading of the runtime, unless the user chose either variable, and then removes it again so
that child processes do not inherit it.  It has no effect when the process had already loaded
libgomp (the runtime is then configured already).
"""

from __future__ import annotations

import os
from types import ModuleType

DEFAULT_SPIN_COUNT = "300"

#: The OpenMP wait setting that applied when fastcrl loaded the runtime, for ``fastcrl info``.
wait_setting: str = ""


def _loaded_libgomp() -> bool:
    """Whether this process has already mapped a libgomp (Linux; False where that cannot be read)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libgomp" in line for line in maps)
    except OSError:
        return False


def import_core() -> ModuleType:
    """Import ``fastcrl._core`` with fastcrl's default spin count unless the user set one."""
    global wait_setting
    user = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ}
    preloaded = _loaded_libgomp()
    if user:
        wait_setting = ", ".join(f"{k}={v} (environment)" for k, v in user.items())
    else:
        os.environ["GOMP_SPINCOUNT"] = DEFAULT_SPIN_COUNT
        wait_setting = f"GOMP_SPINCOUNT={DEFAULT_SPIN_COUNT} (fastcrl default)"
    try:
        from . import _core
    finally:
        if not user:
            os.environ.pop("GOMP_SPINCOUNT", None)
    if preloaded and not user:
        # Another module loaded a libgomp first; if it is the one the extension uses, its settings
        # were read before ours could apply.
        wait_setting += "; a libgomp was loaded before fastcrl, whose own settings may apply"
    return _core
