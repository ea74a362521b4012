"""python -m minilinpath.fig6: linear path of the convolutional maxout network (the paper's Figure 6)."""
import sys

from .figures.fig6 import main

if __name__ == "__main__":
    sys.exit(main())
