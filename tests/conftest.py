import sys
from pathlib import Path

# tests/ is not a package: make the shared catalog importable from every suite.
sys.path.insert(0, str(Path(__file__).resolve().parent))
