"""python -m minilinpath.fig3: maxout, ReLU and sigmoid on one log-scale axis (the paper's Figure 3)."""
import sys

from .figures.fig3 import main

if __name__ == "__main__":
    sys.exit(main())
