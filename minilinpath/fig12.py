"""python -m minilinpath.fig12: gradient descent trajectories on a convex problem (the paper's Figure 12)."""
import sys

from .figures.fig12 import main

if __name__ == "__main__":
    sys.exit(main())
