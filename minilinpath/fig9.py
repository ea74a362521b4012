"""python -m minilinpath.fig9: linear interpolation for deep linear regression (the paper's Figure 9)."""
import sys

from .figures.fig9 import main

if __name__ == "__main__":
    sys.exit(main())
