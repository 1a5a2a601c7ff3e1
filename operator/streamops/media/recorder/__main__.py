"""`python -m streamops.media.recorder`: the same as `streamops worker record`."""

from streamops.media.recorder.process import main

raise SystemExit(main())
