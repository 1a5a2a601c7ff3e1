"""usage: own-session.py NICE|machine COMMAND...: COMMAND in a session of its own whose autogroup is at
NICE, or weighs a machine of the host's cores (devtools.cpu_weight.machine_nice).

With the kernel's autogroups a session's processes together weigh one busy process against every
other session, whatever their own nice (hack/beside.sh says why it matters). SIGINT and SIGQUIT go
back to their defaults: a command started in the background of a shell without job control has them
ignored, and Python then never turns SIGINT into KeyboardInterrupt (pytest's clean stop on Ctrl-C).
Where the kernel has no autogroups the file is absent; the command runs all the same."""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "devtools"))
from devtools.cpu_weight import machine_nice, set_autogroup_nice  # stdlib only

nice, argv = sys.argv[1], sys.argv[2:]
# Before the session: once its process group exists, a SIGINT sent to it must not be ignored.
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.setsid()  # a background job of a shell without job control is never a process group leader
set_autogroup_nice(machine_nice() if nice == "machine" else int(nice))
os.execvp(argv[0], argv)
