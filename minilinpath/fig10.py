"""python -m minilinpath.fig10: solution-to-solution and random-to-solution lines for deep linear regression (the paper's Figure 10)."""
import sys

from .figures.fig10 import main

if __name__ == "__main__":
    sys.exit(main())
