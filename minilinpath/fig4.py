"""python -m minilinpath.fig4: high-resolution linear paths of the ReLU network without dropout (the paper's Figure 4)."""
import sys

from .figures.fig4 import main

if __name__ == "__main__":
    sys.exit(main())
