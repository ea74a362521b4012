"""python -m minilinpath.fig8: linear path of a dropout LSTM language model (the paper's Figure 8)."""
import sys

from .figures.fig8 import main

if __name__ == "__main__":
    sys.exit(main())
