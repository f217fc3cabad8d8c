"""bench/ runs as scripts whose modules import each other by bare name (``import report``): so do its tests."""

import sys
from pathlib import Path

BENCH = str(Path(__file__).resolve().parent.parent)
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)
