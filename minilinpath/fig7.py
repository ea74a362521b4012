"""python -m minilinpath.fig7: the MP-DBM's linear path and SGD trajectory (the paper's Figure 7)."""
import sys

from .figures.fig7 import main

if __name__ == "__main__":
    sys.exit(main())
