"""A node started by another process (the gateway's embedded grid) stops when that process dies.

Even a SIGKILLed gateway must not leave ten storage nodes behind holding its
ports: Linux delivers SIGTERM to the node when its parent exits
(PR_SET_PDEATHSIG), and the node then shuts down as on any SIGTERM.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def stop_with_parent(parent_pid: int) -> bool:
    """Arrange SIGTERM when `parent_pid` exits; False if it has already gone.

    Elsewhere than Linux this does nothing and answers True.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # the parent may have died before the prctl: we have been handed to another
    return os.getppid() == parent_pid
