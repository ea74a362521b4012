"""python -m minilinpath.fig13: the maxout SGD trajectory projected on the straight line (the paper's Figure 13)."""
import sys

from .figures.fig13 import main

if __name__ == "__main__":
    sys.exit(main())
