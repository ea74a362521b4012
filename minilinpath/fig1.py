"""python -m minilinpath.fig1: the maxout network with and without adversarial training (the paper's Figure 1)."""
import sys

from .figures.fig1 import main

if __name__ == "__main__":
    sys.exit(main())
