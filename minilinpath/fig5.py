"""python -m minilinpath.fig5: solution-to-solution and random-point-to-solution lines (the paper's Figure 5)."""
import sys

from .figures.fig5 import main

if __name__ == "__main__":
    sys.exit(main())
