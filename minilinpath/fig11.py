"""python -m minilinpath.fig11: random-walk controls for the trajectory plots (the paper's Figure 11)."""
import sys

from .figures.fig11 import main

if __name__ == "__main__":
    sys.exit(main())
