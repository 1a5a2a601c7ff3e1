"""`python -m streamops.media.clipper`: the same as `streamops worker clip`."""

from streamops.media.clipper.process import main

raise SystemExit(main())
