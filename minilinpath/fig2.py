"""python -m minilinpath.fig2: linear paths of sigmoid and ReLU networks (the paper's Figure 2)."""
import sys

from .figures.fig2 import main

if __name__ == "__main__":
    sys.exit(main())
